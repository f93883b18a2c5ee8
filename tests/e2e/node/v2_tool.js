// Helper driven by checks/node.sh: AWS SDK for JavaScript v2 with default
// settings (path style, SigV4), talking to $S3_ENDPOINT.
//   node v2_tool.js upload BUCKET KEY FILE   s3.upload from a read stream; prints the result JSON
//   node v2_tool.js download BUCKET KEY FILE getObject stream to FILE
//   node v2_tool.js presign BUCKET KEY       prints a presigned GET URL (5 min)
//   node v2_tool.js mb BUCKET | rb BUCKET | rm BUCKET KEY
'use strict';
const fs = require('fs');
const AWS = require('aws-sdk');

const s3 = new AWS.S3({
  accessKeyId: process.env.S3_ACCESS_KEY,
  secretAccessKey: process.env.S3_SECRET_KEY,
  endpoint: process.env.S3_ENDPOINT,
  region: process.env.S3_REGION || 'us-east-1',
  s3ForcePathStyle: true,
  signatureVersion: 'v4',
});

async function main() {
  const [cmd, bucket, key, file] = process.argv.slice(2);
  switch (cmd) {
    case 'upload': {
      const res = await s3.upload({ Bucket: bucket, Key: key, Body: fs.createReadStream(file) }).promise();
      console.log(JSON.stringify(res));
      break;
    }
    case 'download': {
      await new Promise((resolve, reject) => {
        const out = fs.createWriteStream(file);
        s3.getObject({ Bucket: bucket, Key: key }).createReadStream()
          .on('error', reject).pipe(out).on('error', reject).on('finish', resolve);
      });
      break;
    }
    case 'presign':
      console.log(s3.getSignedUrl('getObject', { Bucket: bucket, Key: key, Expires: 300 }));
      break;
    case 'mb':
      await s3.createBucket({ Bucket: bucket }).promise();
      break;
    case 'rb':
      await s3.deleteBucket({ Bucket: bucket }).promise();
      break;
    case 'rm':
      await s3.deleteObject({ Bucket: bucket, Key: key }).promise();
      break;
    default:
      throw new Error(`unknown command ${cmd}`);
  }
}

main().catch((err) => {
  console.error(`Error: ${err.code || err.name}: ${err.message} (HTTP ${err.statusCode}) requestId=${err.requestId}`);
  process.exit(1);
});
