// A tiny note-taking app storing each note as an S3 object, in the spirit of
// CloudServer's Node.js tutorial.
//
//   node app.js NAME TEXT   save TEXT as object NAME in $BUCKET (bucket created if missing)
//   node app.js NAME        print the note NAME to stdout
//
// Configuration comes from the environment: ACCESS_KEY, SECRET_KEY, ENDPOINT
// (e.g. http://127.0.0.1:8000) and BUCKET.
'use strict';

const aws = require('aws-sdk');

const { ACCESS_KEY, SECRET_KEY, ENDPOINT, BUCKET } = process.env;
const [name, text] = process.argv.slice(2);

function usage(msg) {
  console.error(`[Error: ${msg}]`);
  console.error('usage: ACCESS_KEY=... SECRET_KEY=... ENDPOINT=... BUCKET=... node app.js NAME [TEXT]');
  process.exit(2);
}

if (!ACCESS_KEY || !SECRET_KEY || !ENDPOINT || !BUCKET) usage('Missing S3 credentials, endpoint or bucket!');
if (!name) usage('Missing note name!');

const s3 = new aws.S3({
  accessKeyId: ACCESS_KEY,
  secretAccessKey: SECRET_KEY,
  endpoint: ENDPOINT,
  region: process.env.REGION || 'us-east-1',
  s3ForcePathStyle: true,
  signatureVersion: 'v4',
});

async function ensureBucket() {
  try {
    await s3.headBucket({ Bucket: BUCKET }).promise();
  } catch (err) {
    if (err.statusCode !== 404) throw err;
    await s3.createBucket({ Bucket: BUCKET }).promise();
    console.error(`Created bucket ${BUCKET}`);
  }
}

async function save() {
  await ensureBucket();
  await s3.putObject({ Bucket: BUCKET, Key: name, Body: text, ContentType: 'text/plain; charset=utf-8' }).promise();
  console.error(`Saved note ${name} to ${BUCKET}`);
}

async function show() {
  const data = await s3.getObject({ Bucket: BUCKET, Key: name }).promise();
  process.stdout.write(data.Body.toString('utf8'));
}

(text !== undefined ? save() : show()).catch((err) => {
  console.error(`Error: ${err.code || err.name}: ${err.message} (HTTP ${err.statusCode})`);
  process.exit(1);
});
