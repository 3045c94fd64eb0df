/**
 * The speculation facade the worker codes against: one Speculator per model (it lives in isolate
 * memory across requests and owns the shared drafter state), one RequestSpeculation per generation.
 *
 * Per verify step the worker calls `nextTree()`, sends `plan.tree` to the GPU service, and hands the
 * response back through `onVerified()`. Everything here is plain TypeScript without Workers APIs.
 */

import { chooseBudget, FittedCostModel, type CostModel } from "./budget.ts";
import { EdgeCalibrator } from "./calibration.ts";
import { composeTree, type ComposedTree } from "./composer.ts";
import { DRAFTER_NAMES, type DraftCandidates, type DrafterName } from "./drafters/candidates.ts";
import { ContextLookup } from "./drafters/context-lookup.ts";
import { CorpusDrafter } from "./drafters/corpus.ts";
import { checkIntegerOption, checkTokenIds, DraftInputError } from "./drafters/errors.ts";
import { NgramTrie } from "./drafters/lookahead-trie.ts";
import { DEFAULT_RECYCLING_TEMPLATE, RecyclingMatrix, type TreeTemplate } from "./drafters/recycling.ts";
import type { SuffixIndex } from "./suffix-index/suffix-index.ts";
import { ROOT } from "./tree.ts";

export { DRAFTER_NAMES, drafterIndex, type DrafterName } from "./drafters/candidates.ts";
export { DraftInputError, type DraftErrorCode } from "./drafters/errors.ts";

export interface SpeculatorOptions {
  vocabSize: number;
  /** Loaded corpus index shards, all built with this model's tokenizer. */
  corpus?: SuffixIndex[];
  /** Candidates kept per token by token recycling (default 8). */
  topK?: number;
  /** Memory cap of the shared lookahead trie in bytes (default 16 MiB). */
  trieMaxBytes?: number;
  /** Verifier cost model for the budget choice (default: a FittedCostModel that learns from verify timings). */
  costModel?: CostModel;
  /** Static tree shape for token recycling (default: 63 nodes built from a rank prior). */
  recyclingTemplate?: TreeTemplate;
  /** Deepest tree node sent to the verifier (default 32, the GPU service's max_tree_depth). */
  maxDepth?: number;
}

export interface RequestOptions {
  /** Drafters used for this request (default: all four). "corpus" proposes only when shards are loaded. */
  drafters?: readonly DrafterName[];
  /** Largest tree the budget choice may pick (default 64). 0 disables speculation. */
  maxBudget?: number;
}

export interface DraftPlan {
  tree: { tokens: number[]; parents: number[] };
  /** Bitmask per node: bit `DRAFTER_NAMES.indexOf(name)` is set when that drafter proposed it. */
  proposers: number[];
  /** Wall time spent drafting, composing and sizing this tree, in ms. */
  draftMs: number;
}

export interface VerifyFeedback {
  /** The verify response's accepted_tokens: accepted draft tokens, then the bonus token. */
  acceptedTokens: readonly number[];
  /** The verify response's accepted_nodes: tree indices of the accepted draft tokens. */
  acceptedNodes: readonly number[];
  /** The verify response's top_k (empty when the request asked for top_k = 0). */
  topK: readonly (readonly number[])[];
  /** The GPU service's timings.forward_ms. */
  forwardMs: number;
  /** Wall time of the verify call as the edge saw it, in ms. */
  roundTripMs: number;
}

export interface SpeculationStats {
  verifySteps: number;
  /** Draft nodes sent to the verifier. */
  drafted: number;
  /** Draft nodes accepted (bonus tokens excluded). */
  accepted: number;
  /** Tokens committed per verify step, bonus included (0 before the first step). */
  tau: number;
  acceptedByDrafter: Record<DrafterName, number>;
  draftedByDrafter: Record<DrafterName, number>;
  draftMsTotal: number;
}

const REQUEST_TRIE_BYTES = 2 * 1024 * 1024;

export class Speculator {
  readonly vocabSize: number;
  readonly maxDepth: number;
  readonly recycling: RecyclingMatrix;
  readonly calibrator = new EdgeCalibrator();
  readonly costModel: CostModel;
  private trie: NgramTrie;
  private readonly trieMaxBytes: number;
  private readonly corpus: CorpusDrafter | null;
  private readonly template: TreeTemplate;

  constructor(options: SpeculatorOptions) {
    this.vocabSize = checkIntegerOption(options.vocabSize, 1, 1 << 30, "vocabSize");
    this.maxDepth = checkIntegerOption(options.maxDepth ?? 32, 1, 256, "maxDepth");
    this.recycling = new RecyclingMatrix(this.vocabSize, options.topK ?? 8);
    this.trieMaxBytes = options.trieMaxBytes ?? 16 * 1024 * 1024;
    this.trie = new NgramTrie({ vocabSize: this.vocabSize, maxBytes: this.trieMaxBytes });
    this.corpus = options.corpus && options.corpus.length > 0 ? new CorpusDrafter(options.corpus, this.vocabSize) : null;
    this.costModel = options.costModel ?? new FittedCostModel();
    this.template = options.recyclingTemplate ?? DEFAULT_RECYCLING_TEMPLATE;
  }

  beginRequest(prompt: readonly number[], options: RequestOptions = {}): RequestSpeculation {
    if (!Array.isArray(prompt) || prompt.length === 0) {
      throw new DraftInputError("empty_context", "prompt must hold at least one token");
    }
    checkTokenIds(prompt, this.vocabSize, "prompt");
    const drafters = options.drafters ?? DRAFTER_NAMES;
    for (const name of drafters) {
      if (!DRAFTER_NAMES.includes(name)) {
        throw new DraftInputError("invalid_option", `unknown drafter "${name}", expected one of ${DRAFTER_NAMES.join(", ")}`);
      }
    }
    const maxBudget = checkIntegerOption(options.maxBudget ?? 64, 0, 1024, "maxBudget", "invalid_budget");
    return new RequestSpeculation(this, prompt, new Set(drafters), maxBudget);
  }

  /** Returns the bytes held by shared drafter state: recycling matrix, trie arrays and corpus shards. */
  memoryBytes(): number {
    return this.recycling.bytes + this.trie.bytes + (this.corpus?.bytes ?? 0);
  }

  /** Returns the recycling matrix and the shared trie as versioned bytes for durable storage. */
  exportState(): { recycling: Uint8Array; trie: Uint8Array } {
    return { recycling: this.recycling.serialize(), trie: this.trie.serialize() };
  }

  /**
   * Replaces the recycling matrix and/or the shared trie with stored state. Validates both first and
   * throws `corrupt_state` without changing anything when either is invalid.
   */
  importState(state: { recycling?: Uint8Array; trie?: Uint8Array }): void {
    const recycling = state.recycling ? RecyclingMatrix.deserialize(state.recycling, this.vocabSize) : null;
    const trie = state.trie ? NgramTrie.deserialize(state.trie, { vocabSize: this.vocabSize, maxBytes: this.trieMaxBytes }) : null;
    if (recycling) {
      if (recycling.topK !== this.recycling.topK) {
        throw new DraftInputError("corrupt_state", `recycling state has topK ${recycling.topK}, this speculator uses ${this.recycling.topK}`);
      }
      this.recycling.ids.set(recycling.ids);
    }
    if (trie) this.trie = trie;
  }

  /** @internal Proposals of the shared drafters for one context. */
  proposeShared(context: readonly number[], drafters: ReadonlySet<DrafterName>, maxNodes: number): DraftCandidates[] {
    const proposals: DraftCandidates[] = [];
    if (drafters.has("recycling")) {
      proposals.push(this.recycling.propose(context[context.length - 1], this.template, maxNodes));
    }
    if (drafters.has("trie")) proposals.push(...this.trie.proposeBackoff(context, { maxNodes }));
    if (drafters.has("corpus") && this.corpus) proposals.push(this.corpus.propose(context, maxNodes));
    return proposals;
  }

  /** @internal Feeds a finished request into the shared trie. */
  learnSequence(tokens: readonly number[]): void {
    this.trie.insertSequence(tokens);
  }
}

export class RequestSpeculation {
  private readonly context: number[];
  private readonly requestTrie: NgramTrie;
  private readonly lookup: ContextLookup;
  private readonly issued = new WeakMap<DraftPlan, ComposedTree>();
  private finished = false;
  private committedByVerify = 0;
  private readonly counters: SpeculationStats;

  constructor(
    private readonly speculator: Speculator,
    prompt: readonly number[],
    private readonly drafters: ReadonlySet<DrafterName>,
    private readonly maxBudget: number,
  ) {
    this.context = [...prompt];
    const vocabSize = speculator.vocabSize;
    this.requestTrie = new NgramTrie({ vocabSize, maxBytes: 4 * vocabSize + REQUEST_TRIE_BYTES });
    this.requestTrie.append(prompt);
    this.lookup = new ContextLookup({ vocabSize });
    this.lookup.append(prompt);
    const zeros = () => Object.fromEntries(DRAFTER_NAMES.map((name) => [name, 0])) as Record<DrafterName, number>;
    this.counters = { verifySteps: 0, drafted: 0, accepted: 0, tau: 0, acceptedByDrafter: zeros(), draftedByDrafter: zeros(), draftMsTotal: 0 };
  }

  /** Prompt plus every committed token so far. */
  get tokens(): readonly number[] {
    return this.context;
  }

  /** Drafts, composes and sizes the next tree. The tree is empty when drafting would not pay. */
  nextTree(): DraftPlan {
    const started = performance.now();
    let composed = emptyComposed();
    if (this.maxBudget > 0) {
      const proposals = this.speculator.proposeShared(this.context, this.drafters, this.maxBudget);
      if (this.drafters.has("trie")) proposals.push(...this.requestTrie.proposeBackoff(this.context, { maxNodes: this.maxBudget }));
      if (this.drafters.has("context")) proposals.push(this.lookup.propose(this.maxBudget));
      composed = composeTree(proposals, this.speculator.calibrator, { maxNodes: this.maxBudget, maxDepth: this.speculator.maxDepth });
    }
    const draftMs = performance.now() - started;
    const budget = chooseBudget(composed.pathProbs, this.speculator.costModel, draftMs, this.maxBudget);
    const kept = truncateComposed(composed, budget);
    const plan: DraftPlan = {
      tree: { tokens: kept.tokens, parents: kept.parents },
      proposers: kept.proposers,
      draftMs: performance.now() - started,
    };
    this.issued.set(plan, kept);
    return plan;
  }

  /** Takes one verify response for `plan` (in place): extends the context, updates drafters, calibration and cost model. */
  onVerified(plan: DraftPlan, feedback: VerifyFeedback): void {
    const composed = this.issued.get(plan);
    if (composed === undefined) {
      throw new DraftInputError("invalid_feedback", "plan was not issued by this request's nextTree() or was already verified");
    }
    const acceptedSet = checkFeedback(plan, feedback, this.speculator.vocabSize);
    this.issued.delete(plan);

    this.updateRecycling(feedback);
    this.updateCalibration(composed, acceptedSet);
    this.speculator.costModel.observe(plan.tree.tokens.length, feedback.forwardMs, feedback.roundTripMs);

    const stats = this.counters;
    stats.verifySteps++;
    stats.drafted += plan.tree.tokens.length;
    stats.accepted += feedback.acceptedNodes.length;
    stats.draftMsTotal += plan.draftMs;
    this.committedByVerify += feedback.acceptedTokens.length;
    plan.proposers.forEach((mask, node) => {
      DRAFTER_NAMES.forEach((name, d) => {
        if ((mask & (1 << d)) === 0) return;
        stats.draftedByDrafter[name]++;
        if (acceptedSet.has(node)) stats.acceptedByDrafter[name]++;
      });
    });
    this.extendContext(feedback.acceptedTokens);
  }

  /** Appends tokens committed outside a verify step (for example a resend after a 409), in place. */
  appendCommitted(tokens: readonly number[]): void {
    checkTokenIds(tokens, this.speculator.vocabSize, "committed tokens");
    this.extendContext(tokens);
  }

  stats(): SpeculationStats {
    const stats = this.counters;
    return {
      ...stats,
      tau: stats.verifySteps === 0 ? 0 : this.committedByVerify / stats.verifySteps,
      acceptedByDrafter: { ...stats.acceptedByDrafter },
      draftedByDrafter: { ...stats.draftedByDrafter },
    };
  }

  /** Feeds the prompt and output into the model's shared trie. Later calls do nothing. */
  finish(): void {
    if (this.finished) return;
    this.finished = true;
    if (this.drafters.has("trie")) this.speculator.learnSequence(this.context);
  }

  private extendContext(tokens: readonly number[]): void {
    for (const token of tokens) this.context.push(token);
    this.requestTrie.append(tokens);
    this.lookup.append(tokens);
  }

  private updateRecycling(feedback: VerifyFeedback): void {
    // top_k[j] is the distribution that produced accepted_tokens[j], computed right after the token before it.
    let previous = this.context[this.context.length - 1];
    feedback.topK.forEach((candidates, j) => {
      if (candidates.length > 0) this.speculator.recycling.update(previous, candidates);
      previous = feedback.acceptedTokens[j];
    });
  }

  private updateCalibration(composed: ComposedTree, acceptedSet: ReadonlySet<number>): void {
    const calibrator = this.speculator.calibrator;
    const drafterCount = DRAFTER_NAMES.length;
    for (let node = 0; node < composed.tokens.length; node++) {
      // Only nodes whose parent was accepted were actually tested by the verifier.
      const parent = composed.parents[node];
      if (parent !== ROOT && !acceptedSet.has(parent)) continue;
      const wasAccepted = acceptedSet.has(node);
      for (let d = 0; d < drafterCount; d++) {
        const feature = composed.features[node * drafterCount + d];
        if (feature >= 0) calibrator.record(d, feature, wasAccepted);
      }
    }
    calibrator.endStep();
  }
}

function emptyComposed(): ComposedTree {
  return { tokens: [], parents: [], proposers: [], pathProbs: [], features: new Int16Array(0) };
}

/** Keeps the first `budget` nodes; valid because the composer lists nodes best-first, parents first. */
function truncateComposed(composed: ComposedTree, budget: number): ComposedTree {
  const drafterCount = DRAFTER_NAMES.length;
  return {
    tokens: composed.tokens.slice(0, budget),
    parents: composed.parents.slice(0, budget),
    proposers: composed.proposers.slice(0, budget),
    pathProbs: composed.pathProbs.slice(0, budget),
    features: composed.features.slice(0, budget * drafterCount),
  };
}

/**
 * Validates a verify response against the plan it answers and returns the accepted node set. The
 * accepted nodes must form a path from the root whose tokens are the leading accepted tokens; there
 * is one more accepted token (the bonus) unless an EOS ended the path.
 */
function checkFeedback(plan: DraftPlan, feedback: VerifyFeedback, vocabSize: number): Set<number> {
  const fail = (why: string): never => {
    throw new DraftInputError("invalid_feedback", why);
  };
  const { acceptedTokens, acceptedNodes, topK, forwardMs, roundTripMs } = feedback;
  if (!Array.isArray(acceptedTokens) || acceptedTokens.length === 0) fail("acceptedTokens must hold at least the bonus token");
  checkTokenIds(acceptedTokens, vocabSize, "acceptedTokens");
  const nodes = acceptedNodes.length;
  if (nodes !== acceptedTokens.length - 1 && nodes !== acceptedTokens.length) {
    fail(`acceptedNodes has ${nodes} entries for ${acceptedTokens.length} acceptedTokens, expected ${acceptedTokens.length - 1} (or ${acceptedTokens.length} when EOS ends the path)`);
  }
  const { tokens, parents } = plan.tree;
  let previous = ROOT;
  acceptedNodes.forEach((node, j) => {
    if (!Number.isInteger(node) || node < 0 || node >= tokens.length) fail(`acceptedNodes[${j}] = ${node} is not a node of the ${tokens.length}-node tree`);
    if (parents[node] !== previous) fail(`acceptedNodes[${j}] = ${node} is not a child of ${previous}`);
    if (tokens[node] !== acceptedTokens[j]) fail(`acceptedTokens[${j}] = ${acceptedTokens[j]} but node ${node} has token ${tokens[node]}`);
    previous = node;
  });
  if (topK.length !== 0 && topK.length !== acceptedTokens.length) {
    fail(`topK has ${topK.length} rows, expected 0 or ${acceptedTokens.length} (one per accepted token)`);
  }
  topK.forEach((row, j) => checkTokenIds(row, vocabSize, `topK[${j}]`));
  if (!Number.isFinite(forwardMs) || forwardMs < 0 || !Number.isFinite(roundTripMs) || roundTripMs < 0) {
    fail(`timings must be finite and ≥ 0, got forwardMs = ${forwardMs}, roundTripMs = ${roundTripMs}`);
  }
  return new Set(acceptedNodes);
}

