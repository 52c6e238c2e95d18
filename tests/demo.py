"""A local demo of the backup job, with no AWS account: the same stand-ins as the tests.

It starts moto (STS, S3, CodeCommit) and an HTTPS git server on loopback, creates a
bucket and three repositories, runs a dry run and then the real job (the same
`codecommit-backup` command CodeBuild runs), and lists what landed in the bucket.

    python -m tests.demo
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import boto3

from tests.bed import ACCESS_KEY, SECRET_KEY, git, populate_rich, populate_simple
from tests.gitserver import GitServer
from tests.motoserver import MotoServer

BUCKET = "demo-backups"


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="codecommit-backup-demo-") as scratch:
        root = Path(scratch)
        with MotoServer() as moto, GitServer(root / "git", {ACCESS_KEY: SECRET_KEY}) as git_server:
            env = dict(
                os.environ,
                AWS_ACCESS_KEY_ID=ACCESS_KEY,
                AWS_SECRET_ACCESS_KEY=SECRET_KEY,
                AWS_REGION="us-east-1",
                AWS_DEFAULT_REGION="us-east-1",
                AWS_ENDPOINT_URL=moto.url,
                AWS_CONFIG_FILE=str(root / "aws-config"),
                AWS_SHARED_CREDENTIALS_FILE=str(root / "aws-credentials"),
                CODE_COMMIT_ENDPOINT=git_server.endpoint,
                GIT_SSL_CAINFO=str(git_server.ca_file),
                GIT_AUTHOR_NAME="Demo",
                GIT_AUTHOR_EMAIL="demo@example.com",
                GIT_COMMITTER_NAME="Demo",
                GIT_COMMITTER_EMAIL="demo@example.com",
                PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""),
            )
            os.environ.update(env)
            moto.codecommit.git = git_server  # one CodeCommit: pull requests and comments see the git data
            s3 = boto3.client("s3")
            codecommit = boto3.client("codecommit")
            s3.create_bucket(Bucket=BUCKET)
            for name, fill in (("web-app", populate_rich), ("infra.config", populate_simple), ("empty-repo", None)):
                codecommit.create_repository(repositoryName=name)
                bare = git_server.create_repo("us-east-1", name)
                if fill is not None:
                    fill(bare, root / f"work-{name}")
            print("== codecommit-backup --dry-run", flush=True)
            subprocess.run(["codecommit-backup", "--bucket", BUCKET, "--dry-run"], env=env, check=False, cwd=root)
            print("\n== codecommit-backup", flush=True)
            command = ["codecommit-backup", "--bucket", BUCKET]
            code = subprocess.run(command, env=env, check=False, cwd=root).returncode
            print(f"(exit code {code})\n\n== codecommit-backup list: what landed in s3://{BUCKET}", flush=True)
            subprocess.run(["codecommit-backup", "list", "--bucket", BUCKET], env=env, check=False, cwd=root)
            keys = [item["Key"] for item in s3.list_objects_v2(Bucket=BUCKET)["Contents"]]
            first = [key for key in keys if key.endswith(".zip")][-1]
            archive = root / "restore.zip"
            archive.write_bytes(s3.get_object(Bucket=BUCKET, Key=first)["Body"].read())
            subprocess.run(["unzip", "-q", str(archive), "-d", str(root / "restore")], check=True)
            (mirror,) = (root / "restore").glob("*.git")
            (document,) = (root / "restore").glob("*.codecommit.json")
            print(f"\n== unzip {first.rsplit('/', 1)[1]}: {mirror.name}/ and {document.name}; git for-each-ref")
            print(git("-C", mirror, "for-each-ref", "--format=%(objectname:short) %(refname)"), end="")
            return code


if __name__ == "__main__":
    sys.exit(main())
