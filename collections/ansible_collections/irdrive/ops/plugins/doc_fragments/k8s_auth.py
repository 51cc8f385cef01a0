# Copyright: (c) 2026, irdrive maintainers
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
# Matches K8S_AUTH_ARG_SPEC in plugins/module_utils/args_common.py.

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  kubeconfig:
    description:
      - Path to a kubeconfig file.
      - When neither O(kubeconfig) nor O(host) with O(api_key) is given, the client loads
        C(KUBECONFIG) or C(~/.kube/config), or the in-cluster service account when running
        in a pod.
      - Can also be set with the E(K8S_AUTH_KUBECONFIG) environment variable.
    type: path
  context:
    description:
      - The kubeconfig context to use instead of its current context.
      - Can also be set with the E(K8S_AUTH_CONTEXT) environment variable.
    type: str
  host:
    description:
      - URL of the Kubernetes API server, for example V(https://127.0.0.1:6443).
      - Overrides the server of the kubeconfig.
      - Can also be set with the E(K8S_AUTH_HOST) environment variable.
    type: str
  api_key:
    description:
      - Bearer token used to authenticate with the API. Overrides the kubeconfig's credentials.
      - Can also be set with the E(K8S_AUTH_API_KEY) environment variable.
    type: str
  ca_cert:
    description:
      - Path to the CA certificate that signed the API server's certificate.
      - Can also be set with the E(K8S_AUTH_SSL_CA_CERT) environment variable.
    type: path
    aliases: [ssl_ca_cert]
  validate_certs:
    description:
      - Whether to verify the API server's TLS certificate. Defaults to what the kubeconfig says.
      - Can also be set with the E(K8S_AUTH_VERIFY_SSL) environment variable.
    type: bool
    aliases: [verify_ssl]
  request_timeout:
    description:
      - Seconds to wait for each API request. Requests that time out, and answers 429, 500, 502,
        503 and 504, are retried with jittered exponential backoff (at most 5 attempts, 30 seconds
        in all); other errors fail at once.
    type: float
    default: 30.0
requirements:
  - kubernetes >= 24.2.0 (Python library), only for kubeconfig users with C(exec) or
    C(auth-provider) credentials, kubeconfig fields the built-in client does not know, or a
    SOCKS or HTTPS proxy. Token, token file, basic auth, client certificate, CA, proxy-url and
    in-cluster connections use the Python standard library.
"""
