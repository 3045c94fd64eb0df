/**
 * The decode loop of one generation: draft, verify, commit, cut at EOS / stop strings /
 * max_tokens, and emit text that is final. It depends on neither HTTP nor the GPU wire format,
 * because the verifier and the drafters come in through narrow interfaces that unit tests fake.
 */
import { IncrementalDetokenizer } from "../../shared/detokenizer.ts";
import { StopStringMatcher } from "../../shared/stop.ts";

export interface DraftTree {
  tokens: number[];
  /** parents[i] < i; -1 makes node i a child of the last committed token. */
  parents: number[];
}

/** Result of one verify step, as the loop uses it. */
export interface StepResult {
  /** Accepted draft tokens along one path, then the bonus token (none after EOS). */
  acceptedTokens: number[];
  acceptedNodes: number[];
  topK: number[][];
  forwardMs: number;
  roundTripMs: number;
}

export interface StepVerifier {
  verify(tree: DraftTree, signal: AbortSignal): Promise<StepResult>;
}

/** The parts of the drafters' per-request handle that the loop calls (see shared/speculation.ts). */
export interface DraftSource {
  nextTree(): { tree: DraftTree; proposers: number[]; draftMs: number };
  onVerified(
    plan: { tree: DraftTree; proposers: number[]; draftMs: number },
    feedback: { acceptedTokens: readonly number[]; acceptedNodes: readonly number[]; topK: readonly (readonly number[])[]; forwardMs: number; roundTripMs: number },
  ): void;
}

export type FinishReason = "stop" | "length";

export interface DecodeOptions {
  maxTokens: number;
  /** Deepest draft node the verifier may receive, from the context and tree limits, given the committed length. */
  maxTreeDepth: (committedLen: number) => number;
  promptLength: number;
  stop: readonly string[];
  eosTokenIds: readonly number[];
  decodeBytes: (ids: readonly number[]) => Uint8Array;
  /** null turns speculation off: every step verifies an empty tree (plain decoding). */
  drafts: DraftSource | null;
  signal: AbortSignal;
  /** Receives text as soon as it is final; never anything past the cut. */
  onText: (text: string) => void | Promise<void>;
}

export interface StepCounts {
  verifySteps: number;
  /** Draft tree nodes sent, summed over steps. */
  draftedTokens: number;
  /** Draft tokens the verifier accepted (bonus tokens excluded), summed over steps. */
  acceptedTokens: number;
  /** Tokens committed per verify step, bonus included, before any cut. */
  tau: number;
  draftMs: number;
  forwardMs: number;
  roundTripMs: number;
}

export interface DecodeResult {
  finishReason: FinishReason;
  /** Completion tokens up to the cut; an EOS token that ended the generation is included. */
  tokens: number[];
  text: string;
  counts: StepCounts;
}

const EMPTY_TREE: DraftTree = { tokens: [], parents: [] };

export async function runDecodeLoop(verifier: StepVerifier, options: DecodeOptions): Promise<DecodeResult> {
  if (!Number.isSafeInteger(options.maxTokens) || options.maxTokens < 1) {
    throw new Error(`maxTokens must be a positive integer, got ${options.maxTokens}`);
  }
  const cutter = new CompletionCutter(options);
  const counts: StepCounts = { verifySteps: 0, draftedTokens: 0, acceptedTokens: 0, tau: 0, draftMs: 0, forwardMs: 0, roundTripMs: 0 };
  let committedBySteps = 0;
  const drafts = new GuardedDrafts(options.drafts);

  while (cutter.finishReason === null) {
    options.signal.throwIfAborted();
    const plan = drafts.nextTree();
    // Nodes deeper than the tokens still allowed could never be kept, and the service rejects
    // trees that run past the context.
    const produced = options.promptLength + committedBySteps;
    const depthLimit = Math.min(options.maxTreeDepth(produced), options.maxTokens - cutter.tokens.length - 1);
    const fitted = pruneTree(plan.tree, depthLimit);
    const result = await verifier.verify(fitted.tree, options.signal);
    drafts.onVerified(plan, { ...result, acceptedNodes: result.acceptedNodes.map((node) => fitted.originalIndex[node]) });

    counts.verifySteps += 1;
    counts.draftedTokens += fitted.tree.tokens.length;
    counts.acceptedTokens += result.acceptedNodes.length;
    counts.draftMs += plan.draftMs;
    counts.forwardMs += result.forwardMs;
    counts.roundTripMs += result.roundTripMs;
    committedBySteps += result.acceptedTokens.length;

    for (const token of result.acceptedTokens) {
      const text = cutter.push(token);
      if (text.length > 0) await options.onText(text);
      if (cutter.finishReason !== null) break;
    }
  }
  counts.tau = committedBySteps / counts.verifySteps;
  return { finishReason: cutter.finishReason, tokens: cutter.tokens, text: cutter.text, counts };
}

/**
 * Wraps the drafters so that a failure in them degrades to plain decoding instead of failing the
 * request: drafts only choose what gets verified, never what gets committed, so the output stays
 * exact. The failure is logged once with its message.
 */
class GuardedDrafts {
  constructor(private source: DraftSource | null) {}

  nextTree(): ReturnType<DraftSource["nextTree"]> {
    if (this.source !== null) {
      try {
        return this.source.nextTree();
      } catch (error) {
        this.disable("nextTree", error);
      }
    }
    return { tree: EMPTY_TREE, proposers: [], draftMs: 0 };
  }

  onVerified(...args: Parameters<DraftSource["onVerified"]>): void {
    if (this.source === null) return;
    try {
      this.source.onVerified(...args);
    } catch (error) {
      this.disable("onVerified", error);
    }
  }

  private disable(method: string, error: unknown): void {
    console.error(`Drafters failed in ${method}; continuing this request without speculation: ${(error as Error).message}`);
    this.source = null;
  }
}

/**
 * Keeps the nodes of depth ≤ maxDepth (children of the last committed token have depth 1).
 * The kept set contains every ancestor of a kept node, so it is again a valid tree. Nodes keep
 * their order, and originalIndex maps new indices back to the plan's. Example: parents
 * [-1, 0, 1, -1] with maxDepth 1 keeps nodes [0, 3] as parents [-1, -1].
 */
export function pruneTree(tree: DraftTree, maxDepth: number): { tree: DraftTree; originalIndex: number[] } {
  const depth: number[] = [];
  const newIndex: number[] = [];
  const pruned: DraftTree = { tokens: [], parents: [] };
  const originalIndex: number[] = [];
  tree.parents.forEach((parent, i) => {
    depth[i] = parent === -1 ? 1 : depth[parent] + 1;
    if (depth[i] > maxDepth) {
      newIndex[i] = -1;
      return;
    }
    newIndex[i] = pruned.tokens.length;
    pruned.tokens.push(tree.tokens[i]);
    pruned.parents.push(parent === -1 ? -1 : newIndex[parent]);
    originalIndex.push(i);
  });
  return { tree: pruned, originalIndex };
}

/**
 * Applies the three stop conditions token by token. Text, token list and finish reason are cut at
 * the same token:
 * - EOS: the EOS token is counted, contributes no text, finish "stop";
 * - a stop string: text ends before the stop string, tokens end at the token that completed it;
 * - max_tokens: finish "length" after that many tokens.
 */
export class CompletionCutter {
  readonly tokens: number[] = [];
  finishReason: FinishReason | null = null;
  private readonly detokenizer: IncrementalDetokenizer;
  private readonly matcher: StopStringMatcher;
  /** Characters already handed out. */
  private emitted = 0;
  private finalText: string | null = null;

  constructor(private readonly options: Pick<DecodeOptions, "maxTokens" | "stop" | "eosTokenIds" | "decodeBytes">) {
    this.detokenizer = new IncrementalDetokenizer(options.decodeBytes);
    this.matcher = new StopStringMatcher(options.stop);
  }

  get text(): string {
    return this.finalText ?? this.detokenizer.decodedText.slice(0, this.emitted);
  }

  /** Feeds one committed token; returns the text that became final. */
  push(token: number): string {
    if (this.finishReason !== null) throw new Error(`CompletionCutter.push(${token}) after finish reason ${this.finishReason}`);
    this.tokens.push(token);

    if (this.options.eosTokenIds.includes(token)) {
      this.finishReason = "stop";
      return this.release(this.matcher.push(this.detokenizer.finish()));
    }
    let match = this.matcher.push(this.detokenizer.push(token));
    if (match === null && this.tokens.length === this.options.maxTokens) {
      match = this.matcher.push(this.detokenizer.finish());
      if (match === null) {
        this.finishReason = "length";
        return this.emitUpTo(this.detokenizer.decodedText.length);
      }
    }
    if (match !== null) return this.release(match);
    return this.emitUpTo(this.matcher.safeLength());
  }

  /** Ends on a stop match (cut there) or, with no match, emits everything decoded. */
  private release(match: ReturnType<StopStringMatcher["push"]>): string {
    if (match === null) return this.emitUpTo(this.detokenizer.decodedText.length);
    this.finishReason = "stop";
    // Drop the tokens after the one that completed the stop string.
    this.tokens.length = Math.min(this.tokens.length, this.detokenizer.tokensCovering(match.end));
    return this.emitUpTo(match.start);
  }

  private emitUpTo(end: number): string {
    const piece = this.detokenizer.decodedText.slice(this.emitted, Math.max(end, this.emitted));
    this.emitted = Math.max(end, this.emitted);
    if (this.finishReason !== null) this.finalText = this.detokenizer.decodedText.slice(0, this.emitted);
    return piece;
  }
}
