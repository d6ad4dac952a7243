// validate.mjs - checks an OpenAPI document against the official 3.1
// schema (@seriousme/openapi-schema-validator, pinned in package-lock.json).
//
//   node validate.mjs <file.json>
//
// Exits 0 when the document is valid OpenAPI 3.1, 1 with the errors
// otherwise, 2 when it cannot be read.
import { readFileSync } from "node:fs";
import { argv, exit } from "node:process";
import { Validator } from "@seriousme/openapi-schema-validator";

let doc;
try {
  doc = JSON.parse(readFileSync(argv[2], "utf8"));
} catch (e) {
  console.error(`cannot read ${argv[2]}: ${e.message}`);
  exit(2);
}
const validator = new Validator();
const result = await validator.validate(doc);
if (validator.version !== "3.1") {
  console.error(`not an OpenAPI 3.1 document (version ${validator.version})`);
  exit(1);
}
if (!result.valid) {
  console.error(JSON.stringify(result.errors, null, 2));
  exit(1);
}
console.log("valid OpenAPI 3.1");
