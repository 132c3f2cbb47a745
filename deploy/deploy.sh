#!/usr/bin/env bash
# One command from a clone to a deployed stack: builds the function's zip, uploads it to a
# code bucket, deploys deploy/template.yaml, uploads the guest, and prints how to press.
#
#   deploy/deploy.sh STACK [--guest FILE] [--signing-key KEY] [--region REGION]
#                          [--code-bucket BUCKET] [--arch arm64|x86_64] [--zip-dir DIR]
#                          [--guest-settings k=v,k=v] [--parameter Key=Value]...
#
# Every AWS call is an `aws` CLI command (v2), and the guest goes up with `clickrules upload`,
# so what this does is what deploy/README.md does by hand. Each step is announced (`--- step`)
# and a failing one stops the script, naming the step.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"

usage() {
    cat <<'EOF'
usage: deploy/deploy.sh STACK [options]

Builds bootstrap.zip (deploy/package.sh), uploads it to a code bucket, deploys the stack STACK
from deploy/template.yaml (aws cloudformation deploy), uploads the guest (clickrules upload),
and prints what to press.

options:
  --guest FILE             check the guest (.wasm) and upload it to the stack's guest location
  --signing-key KEY        sign precompiled artifacts with KEY (clickrules key new KEY) and
                           deploy with its public key as TrustedKeys
  --region REGION          default: AWS_REGION, AWS_DEFAULT_REGION, then `aws configure get region`
  --code-bucket BUCKET     where the zip goes (default clickrules-artifacts-ACCOUNT-REGION,
                           created when missing)
  --arch arm64|x86_64      the function's architecture (default arm64); only that zip is built
  --zip-dir DIR            use DIR/ARCH/bootstrap.zip, built before, instead of building
  --guest-settings LIST    guest settings key=value,key=value (the GuestSettings parameter)
  --yes                    upload the guest even when its decisions differ from the one it
                           replaces (clickrules upload asks on a terminal, refuses otherwise)
  --parameter KEY=VALUE    any template parameter (repeatable; wins over what this script sets)
  -h, --help               this text

Needs: aws (AWS CLI v2) with credentials; clickrules (cargo install --path host/cli) for
--guest and --signing-key; cargo-lambda for building (not with --zip-dir).
EOF
}

fail() {
    echo "deploy.sh: $*" >&2
    exit 1
}

usage_error() {
    echo "deploy.sh: $*" >&2
    usage >&2
    exit 2
}

# `run STEP COMMAND...`: runs the command; if it fails, says which step failed and stops with
# its exit status. Output goes to stderr, so `$(run ...)` captures only what the command prints.
run() {
    local step="$1"
    shift
    local status=0
    "$@" || status=$?
    if [ "$status" -ne 0 ]; then
        echo "deploy.sh: step '$step' failed (exit $status): $*" >&2
        exit "$status"
    fi
}

step() { echo "--- $*" >&2; }

need_value() {
    if [ "$#" -lt 2 ] || [ -z "$2" ]; then
        usage_error "$1 needs a value"
    fi
}

stack="" guest="" signing_key="" region="" code_bucket="" arch="arm64" zip_dir=""
guest_settings="" guest_settings_given=false accept_changes=false
parameters=()
while [ "$#" -gt 0 ]; do
    case "$1" in
        -h | --help)
            usage
            exit 0
            ;;
        --guest | --signing-key | --region | --code-bucket | --arch | --zip-dir | --parameter)
            need_value "$@"
            case "$1" in
                --guest) guest="$2" ;;
                --signing-key) signing_key="$2" ;;
                --region) region="$2" ;;
                --code-bucket) code_bucket="$2" ;;
                --arch) arch="$2" ;;
                --zip-dir) zip_dir="$2" ;;
                --parameter)
                    case "$2" in
                        [A-Za-z]*=*) parameters+=("$2") ;;
                        *) usage_error "--parameter $2: expected KEY=VALUE" ;;
                    esac
                    ;;
            esac
            shift 2
            ;;
        --yes)
            accept_changes=true
            shift
            ;;
        --guest-settings)
            # An empty list is a value: it clears the stack's GuestSettings.
            [ "$#" -ge 2 ] || usage_error "--guest-settings needs a value"
            guest_settings="$2" guest_settings_given=true
            shift 2
            ;;
        -*) usage_error "unknown option $1" ;;
        *)
            [ -z "$stack" ] || usage_error "one STACK only (got $stack and $1)"
            stack="$1"
            shift
            ;;
    esac
done
[ -n "$stack" ] || usage_error "the STACK name is missing"
case "$arch" in
    arm64 | x86_64) ;;
    *) usage_error "--arch $arch: expected arm64 or x86_64" ;;
esac
[ -z "$guest" ] || [ -f "$guest" ] || fail "--guest $guest: no such file"
[ -z "$signing_key" ] || [ -f "$signing_key" ] || fail "--signing-key $signing_key: no such file"
[ -z "$zip_dir" ] || [ -d "$zip_dir" ] || fail "--zip-dir $zip_dir: no such directory"

command -v aws >/dev/null || fail "aws (the AWS CLI v2) not found: https://docs.aws.amazon.com/cli/latest/userguide/getting-started-install.html"
if [ -n "$guest$signing_key" ] && ! command -v clickrules >/dev/null; then
    fail "clickrules not found (needed for --guest and --signing-key): cargo install --path host/cli"
fi

# A parameter given with --parameter wins over the same one set here.
given() {
    local p
    for p in ${parameters[@]+"${parameters[@]}"}; do
        [ "${p%%=*}" = "$1" ] && return 0
    done
    return 1
}

if [ -z "$region" ]; then
    region="${AWS_REGION:-${AWS_DEFAULT_REGION:-$(aws configure get region 2>/dev/null || true)}}"
fi
[ -n "$region" ] || fail "no region: pass --region REGION or set AWS_REGION"
export AWS_REGION="$region"

# 1. The zip.
if [ -n "$zip_dir" ]; then
    dist="$zip_dir"
    step "using the zip in $dist/$arch (built before)"
else
    dist="$here/dist"
    step "building bootstrap.zip for $arch (deploy/package.sh $arch)"
    run "build" "$here/package.sh" "$arch" >&2
fi
zip="$dist/$arch/bootstrap.zip"
[ -f "$zip" ] || fail "$zip not found (deploy/package.sh $arch writes it)"
# New code, new key: CloudFormation sees the change (deploy/package.sh's build-id, per zip).
build_id="$(sha256sum "$zip" | cut -c1-16)"
prefix="clickrules/$build_id/"

# 2. The code bucket.
if [ -z "$code_bucket" ]; then
    step "account"
    account="$(run "account" aws sts get-caller-identity --query Account --output text)"
    code_bucket="clickrules-artifacts-$account-$region"
fi
step "code bucket s3://$code_bucket"
if ! aws s3api head-bucket --bucket "$code_bucket" --region "$region" >/dev/null 2>&1; then
    run "create code bucket" aws s3 mb "s3://$code_bucket" --region "$region" >&2
fi
step "uploading $zip to s3://$code_bucket/$prefix$arch/bootstrap.zip"
run "upload code" aws s3 cp "$zip" "s3://$code_bucket/$prefix$arch/bootstrap.zip" \
    --region "$region" >&2

# 3. The stack.
overrides=("CodeS3Bucket=$code_bucket" "CodeS3KeyPrefix=$prefix" "Architecture=$arch")
if $guest_settings_given && ! given GuestSettings; then
    overrides+=("GuestSettings=$guest_settings")
fi
if [ -n "$signing_key" ] && ! given TrustedKeys; then
    step "public key of $signing_key"
    public_key="$(run "public key" clickrules key public "$signing_key" | sed -n 's/^public key *//p')"
    [ -n "$public_key" ] || fail "step 'public key': clickrules key public $signing_key printed no key"
    overrides+=("TrustedKeys=$public_key")
fi
for p in "${overrides[@]}"; do
    given "${p%%=*}" || parameters+=("$p")
done
step "deploying stack $stack in $region"
# The template is over CloudFormation's 51,200-byte inline limit: it goes through the bucket.
run "deploy stack" aws cloudformation deploy --stack-name "$stack" \
    --template-file "$here/template.yaml" --region "$region" \
    --s3-bucket "$code_bucket" --s3-prefix "${prefix%/}" \
    --capabilities CAPABILITY_IAM --no-fail-on-empty-changeset \
    --parameter-overrides "${parameters[@]}" >&2

output() {
    run "stack outputs" aws cloudformation describe-stacks --stack-name "$stack" \
        --region "$region" --query "Stacks[0].Outputs[?OutputKey=='$1'].OutputValue" \
        --output text
}
step "stack outputs"
function_name="$(output FunctionName)"
guest_location="$(output GuestLocation)"
log_group="$(output LogGroupName)"
press_topic="$(output PressTopic)"
# `--output text` prints None for an output the stack does not have.
[ "$press_topic" != "None" ] || press_topic=""
[ "$guest_location" != "None" ] || guest_location=""

# 4. The guest.
if [ -n "$guest" ]; then
    [ -n "$guest_location" ] ||
        fail "the stack runs the built-in guest (GuestObject is empty): drop --guest, or deploy with a GuestObject"
    step "uploading the guest $guest to $guest_location"
    upload=(clickrules upload "$guest" "$guest_location" --function "$function_name")
    [ -z "$signing_key" ] || upload+=(--signing-key "$signing_key")
    [ "$accept_changes" = false ] || upload+=(--yes)
    run "upload guest" "${upload[@]}" >&2
fi

# 5. What to press.
serial=G030DEPLOYTEST01
cat <<EOF

Deployed stack $stack in $region: function $function_name, code s3://$code_bucket/$prefix$arch/bootstrap.zip.
EOF
if [ -z "$guest" ] && [ -n "$guest_location" ]; then
    cat <<EOF
No guest uploaded: every press fails until one is at $guest_location:
  clickrules upload guest.wasm $guest_location --function $function_name
EOF
fi
cat <<EOF

Press (the function answers with the press record):
  aws lambda invoke --region $region --function-name $function_name --cli-binary-format raw-in-base64-out --payload '{"serialNumber":"$serial","clickType":"SINGLE"}' record.json && cat record.json
EOF
if [ -n "$press_topic" ]; then
    # The rule's filter with this serial in place of its wildcard: iotbutton/+ -> iotbutton/G030...
    topic="${press_topic/+/$serial}"
    topic="${topic/\#/$serial}"
    cat <<EOF

or publish what a button would (through the IoT topic rule):
  aws iot-data publish --region $region --endpoint-url "https://\$(aws iot describe-endpoint --region $region --endpoint-type iot:Data-ATS --query endpointAddress --output text)" --topic $topic --cli-binary-format raw-in-base64-out --payload '{"serialNumber":"$serial","clickType":"SINGLE","batteryVoltage":"1705mV"}'
EOF
fi
cat <<EOF

The press records (one JSON line per press, both functions) are in the log group $log_group:
  aws logs tail $log_group --region $region --follow --filter-pattern '{ \$.target = "clickrules::record" }'
EOF
