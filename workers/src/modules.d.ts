// Types of tiktoken's wasm, which wrangler bundles as a compiled WebAssembly module by default.
declare module "*.wasm" {
  const module: WebAssembly.Module;
  export default module;
}
