"""A real S3 API on loopback for the backup tests: moto's server (``moto[server]``), in a process of its own on a
port the OS picks, with IAM authentication switched on after the set-up.

What it imitates is S3's own REST API as AWS documents it (PutObject, GetObject, ListObjectsV2, DeleteObject,
CreateMultipartUpload/UploadPart/CompleteMultipartUpload: https://docs.aws.amazon.com/AmazonS3/latest/API/); moto
implements those operations, and with ``INITIAL_NO_AUTH_ACTION_COUNT`` set it checks every request's signature and
the IAM user's policy after that many unauthenticated calls (https://docs.getmoto.org/en/latest/docs/iam.html).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

import boto3
from botocore.config import Config

SETUP_CALLS = 4  # create_user, create_access_key, put_user_policy, create_bucket: then every call is checked
POLICY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}


@dataclass
class FakeS3:
    process: subprocess.Popen[str]
    endpoint: str
    access_key: str
    secret_key: str
    bucket: str
    drain: threading.Thread

    def client(self, access_key: str | None = None, secret_key: str | None = None):  # type: ignore[no-untyped-def]
        return boto3.session.Session().client(
            "s3", endpoint_url=self.endpoint, region_name="us-east-1",
            aws_access_key_id=access_key or self.access_key, aws_secret_access_key=secret_key or self.secret_key,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
        )  # fmt: skip

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        self.drain.join(10)  # the pipe ends with the process
        if self.process.stdout is not None:
            self.process.stdout.close()


def start(bucket: str = "enigma-backups") -> FakeS3:
    env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": str(SETUP_CALLS), "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )  # fmt: skip
    assert process.stdout is not None
    deadline = time.monotonic() + 60
    endpoint = None
    while endpoint is None:
        line = process.stdout.readline()
        if not line and (process.poll() is not None or time.monotonic() > deadline):
            raise RuntimeError("the moto server did not start")
        found = re.search(r"Running on (http://127\.0\.0\.1:\d+)", line)
        if found:
            endpoint = found.group(1)
    drain = threading.Thread(target=process.stdout.read, daemon=True)  # its request log never fills the pipe
    drain.start()
    fake = FakeS3(process, endpoint, "", "", bucket, drain)
    setup = boto3.session.Session()
    iam = setup.client("iam", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="setup",
                       aws_secret_access_key="setup")  # fmt: skip
    iam.create_user(UserName="enigma")
    key = iam.create_access_key(UserName="enigma")["AccessKey"]
    iam.put_user_policy(UserName="enigma", PolicyName="backups", PolicyDocument=json.dumps(POLICY))
    fake.access_key, fake.secret_key = key["AccessKeyId"], key["SecretAccessKey"]
    fake.client().create_bucket(Bucket=bucket)  # the last free call
    return fake
