# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# Matches AWS_ARG_SPEC in plugins/module_utils/args_common.py.

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  endpoint_url:
    description:
      - URL of the AWS API to use instead of the service's default, for example a local moto.
      - Can also be set with the E(AWS_URL) or E(AWS_ENDPOINT_URL) environment variables.
    type: str
    aliases: [aws_endpoint_url]
  region:
    description:
      - The AWS region.
      - Can also be set with the E(AWS_REGION) or E(AWS_DEFAULT_REGION) environment variables.
    type: str
    aliases: [aws_region]
  access_key:
    description:
      - AWS access key id. Without it boto3's standard credential chain is used.
      - Can also be set with the E(AWS_ACCESS_KEY_ID) environment variable.
    type: str
    aliases: [aws_access_key_id]
  secret_key:
    description:
      - AWS secret access key.
      - Can also be set with the E(AWS_SECRET_ACCESS_KEY) environment variable.
    type: str
    aliases: [aws_secret_access_key]
  session_token:
    description:
      - AWS session token for temporary credentials.
      - Can also be set with the E(AWS_SESSION_TOKEN) or E(AWS_SECURITY_TOKEN) environment variables.
    type: str
    aliases: [aws_session_token]
  profile:
    description: A named profile of the AWS shared configuration.
    type: str
    aliases: [aws_profile]
requirements:
  - boto3
notes:
  - Clients use botocore's C(standard) retry mode; only throttling, 5xx and connection errors
    are retried.
"""
