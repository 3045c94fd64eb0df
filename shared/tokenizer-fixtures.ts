/** Test inputs shared by the tokenizer tests, and the Python tiktoken reference encoder. */
import { execFileSync } from "node:child_process";
import path from "node:path";

export const root = path.resolve(import.meta.dirname, "..");
export const modelFolder = path.join(root, "models", "edgespec-tiny");

export const SAMPLES = [
  "Hello, world!",
  "The quick brown fox jumps over the lazy dog.\n\n",
  "Größe, Übermaß und schön: äöüß ÄÖÜ",
  "日本語のテキストと中文文本",
  "emoji 🙂👍🏽 and flags 🇩🇪 and ZWJ 👩‍💻",
  "def f(x):\n    return {'a': [1, 2, 3]}  # comment\r\n\ttabs   and   spaces   ",
  "<|endoftext|>",
  "text <|im_start|>user\nhi<|im_end|> more",
  "123456789 3.14159 -42",
  "",
  "   ",
];

/** Encodes the texts with Python tiktoken through the project virtualenv. */
export function pythonEncode(texts: readonly string[]): { ids: number[]; bytes_hex: string }[] {
  const venv = execFileSync("bash", [path.join(root, "scripts", "python-env.sh")], { encoding: "utf8" }).trim();
  const output = execFileSync(
    path.join(venv, "bin", "python"),
    [path.join(root, "scripts", "model", "encode_strings.py"), modelFolder],
    { input: JSON.stringify(texts), encoding: "utf8" },
  );
  return JSON.parse(output);
}

