// The node `jose` side of the interoperability suite (tests/interop/libraries.py drives it).
// Reads a JSON list of jobs on stdin and writes one JSON list of answers, in order:
//   {"op": "verify", "token", "jwks_url", "alg"}      verify against the portal's JWKS (createRemoteJWKSet)
//   {"op": "verify-secret", "token", "secret", "alg"} verify an HS* token with the base64url secret
//   {"op": "sign", "alg", "pkcs8" | "secret", "claims", "kid"?}  sign a token
// An answer is {"ok": true, "value": claims-or-token} or {"ok": false, "error": "<code>: <message>"}.
import { createRemoteJWKSet, importPKCS8, jwtVerify, SignJWT, base64url } from "jose";

async function run(job) {
  if (job.op === "verify") {
    const jwks = createRemoteJWKSet(new URL(job.jwks_url));
    const { payload } = await jwtVerify(job.token, jwks, { algorithms: [job.alg] });
    return payload;
  }
  if (job.op === "verify-secret") {
    const { payload } = await jwtVerify(job.token, base64url.decode(job.secret), { algorithms: [job.alg] });
    return payload;
  }
  if (job.op === "sign") {
    const key = job.secret ? base64url.decode(job.secret) : await importPKCS8(job.pkcs8, job.alg);
    const header = { alg: job.alg, typ: "JWT" };
    if (job.kid) header.kid = job.kid;
    return await new SignJWT(job.claims).setProtectedHeader(header).sign(key);
  }
  throw new Error(`unknown op ${job.op}`);
}

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const jobs = JSON.parse(Buffer.concat(chunks).toString("utf8"));
const answers = [];
for (const job of jobs) {
  try {
    answers.push({ ok: true, value: await run(job) });
  } catch (error) {
    answers.push({ ok: false, error: `${error.code ?? error.name}: ${error.message}` });
  }
}
process.stdout.write(JSON.stringify(answers));
