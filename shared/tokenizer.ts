/**
 * The model's tokenizer at the edge: tiktoken BPE ranks plus a small JSON config with the special
 * tokens, end-of-sequence tokens and a ChatML-style chat template.
 *
 * Files (see models/README.md): `tokenizer.tiktoken` has one `base64(token bytes) rank` line per
 * ordinary token with ranks dense from 0; the rank is the token id. `tokenizer_config.json` has
 * `format`, `pattern`, `special_tokens`, `eos_tokens`, `bos_token` and `chat_template`.
 *
 * This module takes an already initialised tiktoken `Tiktoken` class, so it works both in workerd
 * (`@dqbd/tiktoken/lite/init` after `init(...)`) and in Node (`@dqbd/tiktoken/lite`).
 */

export const TOKENIZER_FORMAT = "edgespec-tokenizer-v1";

export interface ChatMessage {
  role: "system" | "user" | "assistant";
  content: string;
}

export const CHAT_ROLES: readonly ChatMessage["role"][] = ["system", "user", "assistant"];

export interface ChatTemplate {
  /** One message; `{role}` and `{content}` are replaced. Must contain `{content}` exactly once. */
  message: string;
  /** Appended after the last message to start the assistant's reply. */
  generationPrompt: string;
  /** Prepended once before the first message (for example `<|begin_of_text|>`), or "". */
  bos: string;
}

export interface TokenizerConfig {
  pattern: string;
  specialTokens: Readonly<Record<string, number>>;
  eosTokens: readonly string[];
  bosToken: string | null;
  chatTemplate: ChatTemplate;
}

/** The tiktoken class from `@dqbd/tiktoken/lite` or `@dqbd/tiktoken/lite/init`. */
export interface TiktokenInstance {
  encode(text: string, allowedSpecial?: "all" | string[], disallowedSpecial?: "all" | string[]): Uint32Array;
  encode_ordinary(text: string): Uint32Array;
  decode(tokens: Uint32Array): Uint8Array;
  free(): void;
}
export type TiktokenConstructor = new (
  ranks: string,
  specialTokens: Record<string, number>,
  pattern: string,
) => TiktokenInstance;

export class TokenizerConfigError extends Error {
  override name = "TokenizerConfigError";
}

export class ChatMessageError extends Error {
  override name = "ChatMessageError";
}

function requireString(value: unknown, field: string): string {
  if (typeof value !== "string") throw new TokenizerConfigError(`tokenizer config: '${field}' must be a string, got ${JSON.stringify(value)}`);
  return value;
}

function parseChatTemplate(value: unknown): ChatTemplate {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new TokenizerConfigError("tokenizer config: 'chat_template' must be an object with message, generation_prompt and bos");
  }
  const template = value as Record<string, unknown>;
  const message = requireString(template.message, "chat_template.message");
  const contentCount = message.split("{content}").length - 1;
  if (contentCount !== 1) {
    throw new TokenizerConfigError(`tokenizer config: 'chat_template.message' must contain {content} exactly once, found ${contentCount}`);
  }
  return {
    message,
    generationPrompt: requireString(template.generation_prompt, "chat_template.generation_prompt"),
    bos: requireString(template.bos, "chat_template.bos"),
  };
}

/** Validates a parsed `tokenizer_config.json`; throws TokenizerConfigError naming the bad field. */
export function parseTokenizerConfig(json: unknown): TokenizerConfig {
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new TokenizerConfigError("tokenizer config must be a JSON object");
  }
  const raw = json as Record<string, unknown>;
  if (raw.format !== TOKENIZER_FORMAT) {
    throw new TokenizerConfigError(`tokenizer config: 'format' must be "${TOKENIZER_FORMAT}", got ${JSON.stringify(raw.format)}`);
  }
  const pattern = requireString(raw.pattern, "pattern");
  if (pattern.length === 0) throw new TokenizerConfigError("tokenizer config: 'pattern' is empty");

  const special = raw.special_tokens;
  if (typeof special !== "object" || special === null || Array.isArray(special)) {
    throw new TokenizerConfigError("tokenizer config: 'special_tokens' must be an object mapping token text to id");
  }
  const specialTokens: Record<string, number> = {};
  const owners = new Map<number, string>();
  for (const [name, id] of Object.entries(special)) {
    if (name.length === 0) throw new TokenizerConfigError("tokenizer config: special token names must be non-empty");
    if (typeof id !== "number" || !Number.isInteger(id) || id < 0) {
      throw new TokenizerConfigError(`tokenizer config: special token ${JSON.stringify(name)} has invalid id ${JSON.stringify(id)}; expected a non-negative integer`);
    }
    const owner = owners.get(id);
    if (owner !== undefined) {
      throw new TokenizerConfigError(`tokenizer config: special tokens ${JSON.stringify(owner)} and ${JSON.stringify(name)} share id ${id}`);
    }
    owners.set(id, name);
    specialTokens[name] = id;
  }

  if (!Array.isArray(raw.eos_tokens) || raw.eos_tokens.length === 0) {
    throw new TokenizerConfigError("tokenizer config: 'eos_tokens' must be a non-empty array of special token names");
  }
  const eosTokens = raw.eos_tokens.map((name, index) => {
    const text = requireString(name, `eos_tokens[${index}]`);
    if (!(text in specialTokens)) throw new TokenizerConfigError(`tokenizer config: eos token ${JSON.stringify(text)} is not in special_tokens`);
    return text;
  });

  let bosToken: string | null = null;
  if (raw.bos_token !== null && raw.bos_token !== undefined) {
    bosToken = requireString(raw.bos_token, "bos_token");
    if (!(bosToken in specialTokens)) throw new TokenizerConfigError(`tokenizer config: bos token ${JSON.stringify(bosToken)} is not in special_tokens`);
  }
  return { pattern, specialTokens, eosTokens, bosToken, chatTemplate: parseChatTemplate(raw.chat_template) };
}

/**
 * Counts the ranks of a `.tiktoken` file and checks they are dense from 0 and unique.
 * O(lines); the wasm constructor parses the file again itself.
 */
export function countRanks(ranksText: string): number {
  const seen = new Set<number>();
  const lines = ranksText.split("\n");
  for (let index = 0; index < lines.length; index++) {
    const line = lines[index];
    if (line === "") continue;
    const space = line.indexOf(" ");
    const rank = Number(line.slice(space + 1));
    if (space <= 0 || !Number.isInteger(rank) || rank < 0) {
      throw new TokenizerConfigError(`tokenizer ranks line ${index + 1}: expected "BASE64 RANK", got ${JSON.stringify(line.slice(0, 80))}`);
    }
    if (seen.has(rank)) throw new TokenizerConfigError(`tokenizer ranks line ${index + 1}: rank ${rank} appears twice`);
    seen.add(rank);
  }
  for (let rank = 0; rank < seen.size; rank++) {
    if (!seen.has(rank)) throw new TokenizerConfigError(`tokenizer ranks: ranks must be dense from 0, rank ${rank} is missing`);
  }
  return seen.size;
}

export class ModelTokenizer {
  /** Ordinary ranks plus special tokens; every id the tokenizer produces is below this. */
  readonly vocabSize: number;
  readonly eosTokenIds: readonly number[];
  readonly config: TokenizerConfig;
  private readonly tiktoken: TiktokenInstance;
  private readonly specialNames: string[];
  private readonly specialBytes = new Map<number, Uint8Array>();

  constructor(Tiktoken: TiktokenConstructor, ranksText: string, config: TokenizerConfig) {
    const rankCount = countRanks(ranksText);
    let vocabSize = rankCount;
    for (const [name, id] of Object.entries(config.specialTokens)) {
      if (id < rankCount) {
        throw new TokenizerConfigError(`special token ${JSON.stringify(name)} has id ${id}, which is an ordinary rank (ranks are 0..${rankCount - 1})`);
      }
      vocabSize = Math.max(vocabSize, id + 1);
    }
    this.vocabSize = vocabSize;
    this.config = config;
    this.specialNames = Object.keys(config.specialTokens);
    this.eosTokenIds = config.eosTokens.map((name) => config.specialTokens[name]);
    const encoder = new TextEncoder();
    for (const [name, id] of Object.entries(config.specialTokens)) this.specialBytes.set(id, encoder.encode(name));
    this.tiktoken = new Tiktoken(ranksText, { ...config.specialTokens }, config.pattern);
  }

  /** Encodes text as ordinary text: `<|endoftext|>` in the input becomes plain tokens, never a control id. */
  encode(text: string): number[] {
    return Array.from(this.tiktoken.encode_ordinary(text));
  }

  /**
   * Encodes a conversation with the chat template and ends with the generation prompt.
   * Template text (markers and role) may produce control ids; each message's content is encoded
   * separately as ordinary text, so it never merges with the markers or turns into a control id.
   */
  encodeChat(messages: readonly ChatMessage[]): number[] {
    const template = this.config.chatTemplate;
    const ids = this.encodeTemplateText(template.bos);
    messages.forEach((message, index) => {
      if (typeof message !== "object" || message === null || !CHAT_ROLES.includes(message.role)) {
        throw new ChatMessageError(`messages[${index}].role must be one of ${CHAT_ROLES.join(", ")}, got ${JSON.stringify((message as { role?: unknown })?.role)}`);
      }
      if (typeof message.content !== "string") {
        throw new ChatMessageError(`messages[${index}].content must be a string, got ${typeof message.content}`);
      }
      const [before, after] = template.message.replaceAll("{role}", message.role).split("{content}");
      ids.push(...this.encodeTemplateText(before), ...this.encode(message.content), ...this.encodeTemplateText(after));
    });
    ids.push(...this.encodeTemplateText(template.generationPrompt));
    return ids;
  }

  /** Returns the exact bytes of the ids (special ids give their marker text), with no UTF-8 repair. */
  decodeBytes(ids: readonly number[]): Uint8Array {
    for (const id of ids) {
      if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
        throw new RangeError(`token id ${id} is outside [0, ${this.vocabSize})`);
      }
    }
    return this.tiktoken.decode(Uint32Array.from(ids));
  }

  free(): void {
    this.tiktoken.free();
  }

  private encodeTemplateText(text: string): number[] {
    if (text === "") return [];
    return Array.from(this.tiktoken.encode(text, this.specialNames, []));
  }
}

/** Builds a tokenizer from the two file contents and an initialised Tiktoken class. */
export function createModelTokenizer(Tiktoken: TiktokenConstructor, ranksText: string, configJson: unknown): ModelTokenizer {
  return new ModelTokenizer(Tiktoken, ranksText, parseTokenizerConfig(configJson));
}
