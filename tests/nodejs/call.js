// Runs Tencent KMS calls through the vendor's Node.js SDK, unmodified, and prints what each
// answered. Input (stdin, JSON): {endpoint, secretId, secretKey, region, signMethod?,
// reqMethod?, calls: [{action, params}]}. Output (stdout, JSON): one entry per call, either
// {response} or {error: {code, message, requestId}}. Settings left out keep the SDK's defaults.
"use strict";

const { kms } = require("tencentcloud-sdk-nodejs/tencentcloud/services/kms");

async function main() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  const spec = JSON.parse(Buffer.concat(chunks).toString("utf8"));
  const httpProfile = { endpoint: spec.endpoint, protocol: "http://" };
  if (spec.reqMethod) httpProfile.reqMethod = spec.reqMethod;
  const profile = { httpProfile };
  if (spec.signMethod) profile.signMethod = spec.signMethod;
  const client = new kms.v20190118.Client({
    credential: { secretId: spec.secretId, secretKey: spec.secretKey },
    region: spec.region,
    profile,
  });
  const results = [];
  for (const { action, params } of spec.calls) {
    try {
      results.push({ response: await client[action](params || {}) });
    } catch (e) {
      results.push({ error: { code: e.code || null, message: e.message, requestId: e.requestId || null } });
    }
  }
  process.stdout.write(JSON.stringify(results));
}

main().catch((e) => {
  process.stderr.write(String((e && e.stack) || e));
  process.exit(1);
});
