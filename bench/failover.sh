#!/usr/bin/env bash
# The P1 payments failover done the playbook's way, with kubectl and curl (bench baseline a).
# Needs KUBECONFIG and PLATFORM_URL. The kill switch is the lab's kill-switches ConfigMap.
set -euo pipefail
ns=platform
curl -fsS "$PLATFORM_URL/payments/health" >/dev/null || true
curl -fsS "$PLATFORM_URL/processors/ccbill/health" >/dev/null || echo "ccbill down"
curl -fsS "$PLATFORM_URL/processors/segpay/health" >/dev/null
kubectl -n $ns patch configmap kill-switches --type merge -p '{"data":{"payments":"disabled"}}' >/dev/null
kubectl -n $ns patch configmap payment-config --type merge \
  -p '{"data":{"PRIMARY_PROCESSOR":"segpay","BACKUP_PROCESSOR":"ccbill"}}' >/dev/null
kubectl -n $ns rollout restart deployment/payment-service >/dev/null
kubectl -n $ns rollout status deployment/payment-service --timeout=120s >/dev/null
kubectl -n $ns patch configmap kill-switches --type merge -p '{"data":{"payments":"enabled"}}' >/dev/null
for _ in $(seq 1 100); do
  if curl -fsS "$PLATFORM_URL/payments/health" | grep -q '"processor": *"segpay"'; then exit 0; fi
  sleep 0.1
done
echo "payments not healthy on segpay" >&2
exit 1
