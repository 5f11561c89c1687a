#!/usr/bin/env node
// A `solc` executable for py-solc-x / ape-solidity built on solc-js (the official compiler as wasm).
// Why: no native solc can be downloaded on our machines (no internet), and py-solc-x only needs an
// executable that answers `--version` and `--standard-json`. Imports not given in the input JSON are
// read from disk relative to --base-path / --include-path / --allow-paths.
"use strict";
const fs = require("fs");
const path = require("path");
const solc = require(path.join(__dirname, "..", "node_modules", "solc"));

const args = process.argv.slice(2);

function out(text) {
  // Synchronous write: process.exit() after an async stdout write truncates piped output at 64 KiB.
  fs.writeSync(1, text);
}

if (args.includes("--version")) {
  out(`solc, the solidity compiler commandline interface\nVersion: ${solc.version()}\n`);
  process.exit(0);
}

if (!args.includes("--standard-json")) {
  fs.writeSync(2, "this solc wrapper supports only --version and --standard-json\n");
  process.exit(1);
}

const roots = [process.cwd()];
for (const flag of ["--base-path", "--include-path", "--allow-paths"]) {
  args.forEach((a, i) => {
    if (a === flag && args[i + 1]) roots.push(...args[i + 1].split(","));
  });
}

function findImports(importPath) {
  for (const root of roots) {
    const candidate = path.resolve(root, importPath);
    if (fs.existsSync(candidate)) return { contents: fs.readFileSync(candidate, "utf8") };
  }
  return { error: `file not found: ${importPath}` };
}

const positional = args.filter((a, i) => !a.startsWith("--") && !["--base-path", "--include-path", "--allow-paths"].includes(args[i - 1]));
const inputFile = positional.find((a) => a !== "-");
const input = inputFile ? fs.readFileSync(inputFile, "utf8") : fs.readFileSync(0, "utf8");
out(solc.compile(input, { import: findImports }));
