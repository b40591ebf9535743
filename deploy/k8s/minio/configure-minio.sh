#!/bin/sh
# Configures an existing MinIO for the benchmarking suite; safe to run again.
#   1. waits for MinIO, creates the bucket;
#   2. optionally creates the application user with a policy limited to the bucket;
#   3. points the webhook target `benchsuite` at the listener (auth token, persistent queue_dir)
#      and restarts MinIO only when that target changed;
#   4. subscribes the bucket's `.h5` profiles and `.csv` LIKWID output (created and removed)
#      to the target, one subscription per suffix.
# Used by the Kubernetes Job (deploy/k8s/minio-setup-job.yaml) and by compose (minio-setup).
# Runs in the quay.io/minio/mc image: POSIX sh and mc only.
set -eu

: "${MINIO_ADMIN_URL:?e.g. http://minio.minio.svc.cluster.local:9000}"
: "${MINIO_ROOT_USER:?an administrator of that MinIO}"
: "${MINIO_ROOT_PASSWORD:?}"
: "${MINIO_BUCKET:=benchmarks}"
: "${WEBHOOK_ENDPOINT:?e.g. http://analysis-listener.benchsuite.svc.cluster.local:8001/minio-event}"
: "${MINIO_WEBHOOK_AUTH_TOKEN:?the token the listener expects}"
: "${WEBHOOK_QUEUE_DIR:?a directory on a persistent volume of the MinIO server}"
: "${WEBHOOK_QUEUE_LIMIT:=100000}"
: "${CREATE_APP_USER:=false}"
: "${MINIO_WAIT_S:=300}"
export MC_CONFIG_DIR="${MC_CONFIG_DIR:-/tmp/.mc}"

TARGET_ID=benchsuite
ARN="arn:minio:sqs::${TARGET_ID}:webhook"
ALIAS=target

refuse_placeholder() {
  case "$2" in
    *REPLACE*|*replace-me*|*changeme*|minioadmin)
      echo "refusing to run: $1 still holds the example placeholder" >&2
      exit 2
      ;;
  esac
}
refuse_placeholder MINIO_ROOT_PASSWORD "$MINIO_ROOT_PASSWORD"
refuse_placeholder MINIO_WEBHOOK_AUTH_TOKEN "$MINIO_WEBHOOK_AUTH_TOKEN"

wait_for_minio() {
  waited=0
  until mc alias set "$ALIAS" "$MINIO_ADMIN_URL" "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD" \
        >/dev/null 2>&1 && mc admin info "$ALIAS" >/dev/null 2>&1; do
    if [ "$waited" -ge "$MINIO_WAIT_S" ]; then
      echo "MinIO at $MINIO_ADMIN_URL did not answer within ${MINIO_WAIT_S}s" >&2
      exit 1
    fi
    sleep 3
    waited=$((waited + 3))
  done
}

wait_for_minio
echo "MinIO answers at $MINIO_ADMIN_URL"

mc mb --ignore-existing "$ALIAS/$MINIO_BUCKET"

if [ "$CREATE_APP_USER" = "true" ]; then
  : "${MINIO_ACCESS_KEY:?the application user to create}"
  : "${MINIO_SECRET_KEY:?}"
  refuse_placeholder MINIO_SECRET_KEY "$MINIO_SECRET_KEY"
  policy_file="$MC_CONFIG_DIR/benchsuite-app-policy.json"
  mkdir -p "$MC_CONFIG_DIR"
  cat >"$policy_file" <<POLICY
{
  "Version": "2012-10-17",
  "Statement": [
    {"Effect": "Allow",
     "Action": ["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"],
     "Resource": ["arn:aws:s3:::${MINIO_BUCKET}"]},
    {"Effect": "Allow",
     "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject",
                "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"],
     "Resource": ["arn:aws:s3:::${MINIO_BUCKET}/*"]}
  ]
}
POLICY
  mc admin policy create "$ALIAS" benchsuite-app "$policy_file"
  # `user add` on an existing user sets its secret: this is also how the key is rotated.
  mc admin user add "$ALIAS" "$MINIO_ACCESS_KEY" "$MINIO_SECRET_KEY"
  mc admin policy attach "$ALIAS" benchsuite-app --user "$MINIO_ACCESS_KEY" >/dev/null 2>&1 || true
  echo "application user $MINIO_ACCESS_KEY has policy benchsuite-app"
fi

# When this MinIO release redacts auth_token in `config get`, the target always counts as
# changed and each run restarts MinIO once: harmless, since the Job runs on demand.
current="$(mc admin config get "$ALIAS" "notify_webhook:$TARGET_ID" 2>/dev/null || true)"
changed=false
for pair in "endpoint=$WEBHOOK_ENDPOINT" "auth_token=$MINIO_WEBHOOK_AUTH_TOKEN" \
            "queue_dir=$WEBHOOK_QUEUE_DIR" "queue_limit=$WEBHOOK_QUEUE_LIMIT"; do
  case "$current" in
    *"$pair"*) ;;
    *) changed=true ;;
  esac
done
if [ "$changed" = "true" ]; then
  # MinIO checks that it can reach the endpoint here: the listener must be up.
  mc admin config set "$ALIAS" "notify_webhook:$TARGET_ID" \
    endpoint="$WEBHOOK_ENDPOINT" auth_token="$MINIO_WEBHOOK_AUTH_TOKEN" \
    queue_dir="$WEBHOOK_QUEUE_DIR" queue_limit="$WEBHOOK_QUEUE_LIMIT"
  mc admin service restart "$ALIAS"
  wait_for_minio
  echo "webhook target $TARGET_ID -> $WEBHOOK_ENDPOINT (queue_dir $WEBHOOK_QUEUE_DIR)"
else
  echo "webhook target $TARGET_ID already up to date"
fi

subscribed="$(mc event ls "$ALIAS/$MINIO_BUCKET" "$ARN" 2>/dev/null || true)"
for suffix in .h5 .csv; do
  if printf '%s\n' "$subscribed" | grep -F "$ARN" | grep -qF "suffix=\"$suffix\""; then
    echo "bucket $MINIO_BUCKET already notifies $ARN of *$suffix"
  else
    mc event add "$ALIAS/$MINIO_BUCKET" "$ARN" --event put,delete --suffix "$suffix"
    echo "bucket $MINIO_BUCKET: put and delete events of *$suffix go to $ARN"
  fi
done
