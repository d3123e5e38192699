"""What a user would write with boto3 alone: upload each file, invoke, then poll the outputs.

python bench/plain_boto3.py BUCKET ENDPOINT OUT_DIR FILE... (the baseline of bench/client.py)
"""

import json
import sys
import time
from pathlib import Path

import boto3

s3 = boto3.client("s3")
runtime = boto3.client("sagemaker-runtime")
bucket, endpoint, out = sys.argv[1], sys.argv[2], Path(sys.argv[3])
pending = {}
for name in sys.argv[4:]:
    path = Path(name)
    key = f"plain/{path.name}"
    s3.upload_file(str(path), bucket, key)
    response = runtime.invoke_endpoint_async(
        EndpointName=endpoint, InputLocation=f"s3://{bucket}/{key}", ContentType="audio/wav"
    )
    pending[response["OutputLocation"]] = path
while pending:
    for location, path in list(pending.items()):
        result_bucket, result_key = location[5:].split("/", 1)
        try:
            body = s3.get_object(Bucket=result_bucket, Key=result_key)["Body"].read()
        except s3.exceptions.NoSuchKey:
            continue
        (out / f"{path.stem}.txt").write_text(json.loads(body)["text"] + "\n")
        del pending[location]
    if pending:
        time.sleep(1)
