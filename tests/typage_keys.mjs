// Prints four X25519 and four post-quantum hybrid age identities, each followed by the
// recipient typage (npm `age-encryption`, the TypeScript age) derives from it:
// "AGE-SECRET-KEY-... age1..." per line. Run by tests/recipients.rs, which installs the
// package into the test's own directory and passes it as TYPAGE_DIR.
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const dir = process.env.TYPAGE_DIR;
if (!dir) throw new Error("TYPAGE_DIR is not set");
const age = await import(
  pathToFileURL(join(dir, "node_modules", "age-encryption", "dist", "index.js")).href
);
for (const generate of [age.generateX25519Identity, age.generateHybridIdentity]) {
  for (let i = 0; i < 4; i++) {
    const identity = await generate();
    console.log(identity + " " + (await age.identityToRecipient(identity)));
  }
}
