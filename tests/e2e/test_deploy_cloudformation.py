"""deploy/cloudformation/ and `fle config export-cloudformation`: linted by cfn-lint, deployed to moto.

What moto (5.2) does and does not do here, so nobody reads more into these tests than they check:
- moto's CloudFormation creates the DynamoDB table (with its index), the IAM role and inline policy, the
  log group and the Lambda function (from a zip in moto's S3; moto does not run it: that needs Docker),
  and resolves Ref/GetAtt/Sub/If between them. It does not enforce IAM: the policy is checked for what
  it says, not for what AWS would allow.
- moto has no CloudFormation support for any AWS::CloudFront::* type: it logs "No Moto CloudFormation
  support for ..." and its server fails CreateStack. The exported CloudFront resources are checked by
  cfn-lint (CloudFormation's own resource schemas) and by a round trip into our loader instead.
"""

from __future__ import annotations

import ast
import asyncio
import base64
import io
import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import ManualArgs, lint

from decryptor import handler
from edge_proxy.encrypting import esdk
from profiles import load_config_dir, select
from profiles.cloudformation import ExportError, to_cloudformation
from store import Submission
from store.dynamodb import DynamoSettings, DynamoStore
from store.dynamodb_table import beacon_index
from tests.fixtures_moto import Aws
from tests.helpers import edit_json, make_config_dir

ROOT = Path(__file__).parents[2]
TEMPLATE = ROOT / "deploy" / "cloudformation" / "decryptor.yaml"
EXAMPLE_EXPORT = ROOT / "deploy" / "cloudformation" / "cloudfront-fle.example.json"
PARAMETER = "/cloudfront/field-encryption-sample/private-key"


def cfn_lint(text: str, regions: tuple[str, ...] = ("us-east-1", "eu-west-1")) -> list[str]:
    """cfn-lint's errors and warnings for a template, as `RULE: message` lines: what its command line
    reports by default (informational findings left out), for the regions given."""
    matches = lint(text, config=ManualArgs(regions=list(regions)))
    return [f"{m.rule.id}: {m.message}" for m in matches if m.rule.id[0] in "EW"]


def fle(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fle", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=60,
    )


# -- cfn-lint -------------------------------------------------------------------------------------


def test_the_sample_stack_lints_clean() -> None:
    assert cfn_lint(TEMPLATE.read_text()) == []


def test_the_export_of_the_examples_lints_clean_and_is_committed_as_generated() -> None:
    template = to_cloudformation(load_config_dir(ROOT / "profiles" / "examples"))
    # CloudFormation registers the FLE profile and config types in us-east-1 only (of the commercial
    # regions), CloudFront's home region: the export says so, and is linted for it.
    assert cfn_lint(json.dumps(template), regions=("us-east-1",)) == []
    assert any("does not exist in 'eu-west-1'" in f for f in cfn_lint(json.dumps(template), ("eu-west-1",)))
    assert json.loads(EXAMPLE_EXPORT.read_text()) == template, (
        "deploy/cloudformation/cloudfront-fle.example.json is stale: regenerate it with "
        "fle config export-cloudformation profiles/examples --output " + str(EXAMPLE_EXPORT.relative_to(ROOT))
    )


def test_lint_catches_a_broken_template() -> None:
    """The lint step can fail: a profile without its required Name is an error."""
    template = to_cloudformation(load_config_dir(ROOT / "profiles" / "examples"))
    profile = template["Resources"]["FleProfileP280MFCLSYOCVU"]["Properties"]
    del profile["FieldLevelEncryptionProfileConfig"]["Name"]
    findings = cfn_lint(json.dumps(template), regions=("us-east-1",))
    assert any(f.startswith("E3003") and "'Name' is a required property" in f for f in findings), findings


# -- export ---------------------------------------------------------------------------------------


def test_export_links_key_profile_and_config(rsa_key, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    template = to_cloudformation(load_config_dir(make_config_dir(tmp_path, rsa_key)))
    resources = template["Resources"]
    assert {name: r["Type"] for name, r in resources.items()} == {
        "PublicKeyK3D5EWEUDCCXON": "AWS::CloudFront::PublicKey",
        "FleProfileP280MFCLSYOCVU": "AWS::CloudFront::FieldLevelEncryptionProfile",
        "FleConfigC3KM2WVD605UAY": "AWS::CloudFront::FieldLevelEncryptionConfig",
    }
    entity = resources["FleProfileP280MFCLSYOCVU"]["Properties"]["FieldLevelEncryptionProfileConfig"][
        "EncryptionEntities"
    ][0]
    assert entity == {
        "PublicKeyId": {"Ref": "PublicKeyK3D5EWEUDCCXON"},  # a PublicKey's Ref is its Id
        "ProviderId": "FLEDemo",
        "FieldPatterns": ["phone"],
    }
    content_types = resources["FleConfigC3KM2WVD605UAY"]["Properties"]["ContentTypeProfileConfig"]
    assert content_types["ContentTypeProfiles"][0]["ProfileId"] == {  # a profile's Ref is its ARN
        "Fn::GetAtt": ["FleProfileP280MFCLSYOCVU", "Id"]
    }
    assert template["Outputs"]["FleConfigC3KM2WVD605UAYId"]["Value"] == {
        "Fn::GetAtt": ["FleConfigC3KM2WVD605UAY", "Id"]
    }


def _as_cloudfront_prints_it(template: dict[str, Any], directory: Path) -> None:
    """Write the template's resources as `aws cloudfront get-*` would print them once created: every
    Ref / GetAtt Id replaced by a made-up CloudFront Id, the lists in Quantity/Items form."""
    ids = {name: f"E{n:013d}" for n, name in enumerate(template["Resources"])}

    def resolve(value: Any) -> Any:
        if isinstance(value, dict) and set(value) == {"Ref"}:
            return ids[value["Ref"]]
        if isinstance(value, dict) and set(value) == {"Fn::GetAtt"}:
            assert value["Fn::GetAtt"][1] == "Id"
            return ids[value["Fn::GetAtt"][0]]
        if isinstance(value, dict) and set(value) == {"Fn::Sub"}:
            return value["Fn::Sub"].replace("${AWS::StackName}", "stack")
        return value

    def listed(items: list[Any]) -> dict[str, Any]:
        return {"Quantity": len(items), "Items": items}

    for name, resource in template["Resources"].items():
        props = resource["Properties"]
        if resource["Type"] == "AWS::CloudFront::PublicKey":
            config = {k: resolve(v) for k, v in props["PublicKeyConfig"].items()}
            document = {"PublicKey": {"Id": ids[name], "PublicKeyConfig": config}}
        elif resource["Type"] == "AWS::CloudFront::FieldLevelEncryptionProfile":
            config = dict(props["FieldLevelEncryptionProfileConfig"])
            config["CallerReference"] = resolve(config["CallerReference"])
            config["EncryptionEntities"] = listed(
                [
                    {
                        **e,
                        "PublicKeyId": resolve(e["PublicKeyId"]),
                        "FieldPatterns": listed(e["FieldPatterns"]),
                    }
                    for e in config["EncryptionEntities"]
                ]
            )
            document = {
                "FieldLevelEncryptionProfile": {"Id": ids[name], "FieldLevelEncryptionProfileConfig": config}
            }
        else:
            config = {k: resolve(v) for k, v in props.items()}
            ct = config["ContentTypeProfileConfig"]
            ct["ContentTypeProfiles"] = listed(
                [{**m, "ProfileId": resolve(m["ProfileId"])} for m in ct["ContentTypeProfiles"]]
            )
            qa = config["QueryArgProfileConfig"]
            qa["QueryArgProfiles"] = listed(
                [{**m, "ProfileId": resolve(m["ProfileId"])} for m in qa["QueryArgProfiles"]]
            )
            document = {"FieldLevelEncryption": {"Id": ids[name], "FieldLevelEncryptionConfig": config}}
        (directory / f"{name}.json").write_text(json.dumps(document))


def test_export_round_trips_to_the_same_behaviour(rsa_key, other_rsa_key, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """What CloudFront would hold after the stack runs, loaded back, decides every request as the
    original directory does: same keys, providers, patterns, flags, query arguments."""
    source = make_config_dir(tmp_path / "source", rsa_key)
    second = json.loads((source / "profile.json").read_text())
    second["FieldLevelEncryptionProfile"]["Id"] = "PCARDPROFILE"
    config = second["FieldLevelEncryptionProfile"]["FieldLevelEncryptionProfileConfig"]
    config["Name"] = "CardProfile"
    config["EncryptionEntities"]["Items"][0]["FieldPatterns"] = {"Quantity": 2, "Items": ["card*", "cvv"]}
    (source / "card-profile.json").write_text(json.dumps(second))

    def add_query_arg(document: dict[str, Any]) -> None:
        qa = document["FieldLevelEncryption"]["FieldLevelEncryptionConfig"]["QueryArgProfileConfig"]
        qa["ForwardWhenQueryArgProfileIsUnknown"] = False
        qa["QueryArgProfiles"] = {"Quantity": 1, "Items": [{"QueryArg": "card", "ProfileId": "PCARDPROFILE"}]}

    edit_json(source / "config.json", add_query_arg)
    original = load_config_dir(source)
    exported = tmp_path / "exported"
    exported.mkdir()
    _as_cloudfront_prints_it(to_cloudformation(original), exported)
    again = load_config_dir(exported)

    before, after = original.only_config(), again.only_config()
    cases = [
        (ct, qa)
        for ct in ("application/x-www-form-urlencoded", "application/json", None, "bad")
        for qa in (None, "card", "nope", ["card", "card"])
    ]
    for content_type, query in cases:
        a, b = select(before, content_type, query), select(after, content_type, query)
        assert (a.action, a.reason, a.format) == (b.action, b.reason, b.format), (content_type, query)
        if a.profile is not None:
            assert b.profile is not None and a.profile.name == b.profile.name
            assert [
                (e.provider_id, e.public_key.name, e.public_key.encoded_key, [p.text for p in e.patterns])
                for e in a.profile.entities
            ] == [
                (e.provider_id, e.public_key.name, e.public_key.encoded_key, [p.text for p in e.patterns])
                for e in b.profile.entities
            ]


def test_export_refuses_what_cloudfront_cannot_do_and_lists_all_of_it(rsa_key, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    directory = make_config_dir(tmp_path, rsa_key)

    def json_profile(document: dict[str, Any]) -> None:
        config = document["FieldLevelEncryptionProfile"]["FieldLevelEncryptionProfileConfig"]
        config["EncryptionEntities"]["Items"][0]["FieldPatterns"]["Items"] = ["/card/number"]
        config["Fle:AlgorithmSuite"] = "0x0478"

    def json_config(document: dict[str, Any]) -> None:
        item = document["FieldLevelEncryption"]["FieldLevelEncryptionConfig"]["ContentTypeProfileConfig"][
            "ContentTypeProfiles"
        ]["Items"][0]
        item.update(Format="JSON", ContentType="application/json")

    edit_json(directory / "profile.json", json_profile)
    edit_json(directory / "config.json", json_config)
    with pytest.raises(ExportError) as refused:
        to_cloudformation(load_config_dir(directory))
    problems = refused.value.problems
    assert len(problems) == 3, problems
    assert any("0x0478" in p for p in problems)
    assert any("/card/number" in p for p in problems)
    assert any("application/json as JSON" in p for p in problems)

    result = fle("config", "export-cloudformation", str(directory))
    assert result.returncode == 1 and result.stdout == ""
    assert "CloudFront cannot run this configuration" in result.stderr and "Traceback" not in result.stderr


def test_export_cli_writes_the_file(tmp_path: Path) -> None:
    out = tmp_path / "fle.json"
    result = fle("config", "export-cloudformation", "profiles/examples", "--output", str(out))
    assert result.returncode == 0, result.stderr
    assert json.loads(out.read_text())["Resources"]["PublicKeyKSAMPLEONLY000"]["Type"] == (
        "AWS::CloudFront::PublicKey"
    )


def test_export_into_an_existing_directory_and_from_a_keys_only_one(tmp_path: Path) -> None:
    """Issue 25.7: `--output DIR` (a directory made beforehand) gets fle-cloudfront.json; a directory of
    public keys alone (`fle keys create --config DIR` without --fields) is refused with what to add."""
    out = tmp_path / "out"
    out.mkdir()
    result = fle("config", "export-cloudformation", "profiles/examples", "--output", str(out))
    assert result.returncode == 0, result.stderr
    assert json.loads((out / "fle-cloudfront.json").read_text())["Resources"]
    keys_only = tmp_path / "keys-only"
    keys_only.mkdir()
    sample_key = ROOT / "profiles" / "examples" / "public-key.json"
    (keys_only / "public-key.json").write_text(sample_key.read_text())
    refused = fle("config", "export-cloudformation", str(keys_only), "--output", str(out))
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert "it holds public keys only" in refused.stderr
    assert "--fields phone --profile-id PFORM" in refused.stderr


# -- deployed to moto -----------------------------------------------------------------------------


def _policy(document: Any) -> dict[str, Any]:
    # moto hands back an inline policy as the repr of a dict; AWS as URL-encoded JSON (boto3 decodes it)
    return ast.literal_eval(document) if isinstance(document, str) else document


def _wait(cloudformation: Any, name: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while True:
        stack = cloudformation.describe_stacks(StackName=name)["Stacks"][0]
        if not stack["StackStatus"].endswith("_IN_PROGRESS") or time.monotonic() > deadline:
            return stack  # type: ignore[no-any-return]
        time.sleep(0.2)


@pytest.fixture
def moto_everywhere(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> Aws:
    """Every AWS service at moto (the `aws` fixture points only SSM and KMS there)."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws.url)
    return aws


def test_the_stack_deploys_to_moto_and_the_decryptor_reads_its_table(
    moto_everywhere: Aws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    aws = moto_everywhere
    # The private key goes into Parameter Store the documented way, before the stack.
    kms_key = aws.client("kms").create_key(Description="fle private key")["KeyMetadata"]
    keystore = tmp_path / "keystore.toml"
    made = fle(
        "keys", "create", "--backend", "ssm", "--parameter", PARAMETER, "--kms-key-id", kms_key["KeyId"],
        "--provider-id", "FLEDemo", "--key-name", "DemoPublicKey", "--keystore", str(keystore),
        "--config", str(tmp_path / "config"),
    )  # fmt: skip
    assert made.returncode == 0, made.stdout + made.stderr

    # The function's code: moto only checks the object exists (it runs nothing without Docker).
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="fle-code")
    package = io.BytesIO()
    with zipfile.ZipFile(package, "w") as archive:
        archive.write(keystore, "keystore.toml")
    s3.put_object(Bucket="fle-code", Key="fle-decrypt.zip", Body=package.getvalue())

    cloudformation = aws.client("cloudformation")
    cloudformation.create_stack(
        StackName="fle",
        TemplateBody=TEMPLATE.read_text(),
        Capabilities=["CAPABILITY_IAM"],
        Parameters=[
            {"ParameterKey": "CodeS3Bucket", "ParameterValue": "fle-code"},
            {"ParameterKey": "PrivateKeyKmsKeyArn", "ParameterValue": kms_key["Arn"]},
            {"ParameterKey": "IndexedField1", "ParameterValue": "phone"},
            {"ParameterKey": "IndexedField2", "ParameterValue": "email"},
        ],
    )
    stack = _wait(cloudformation, "fle")
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    created = {
        r["LogicalResourceId"]: r["ResourceType"]
        for r in cloudformation.list_stack_resources(StackName="fle")["StackResourceSummaries"]
        if r["LogicalResourceId"]  # moto lists a resource whose Condition is false as one with no name
    }
    assert created == {
        "SubmissionsTable": "AWS::DynamoDB::Table",
        "DecryptLogGroup": "AWS::Logs::LogGroup",
        "DecryptRole": "AWS::IAM::Role",
        "DecryptFunction": "AWS::Lambda::Function",
    }

    table = aws.client("dynamodb").describe_table(TableName="fle-submissions")["Table"]
    assert table["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    index, *lookups = table["GlobalSecondaryIndexes"]
    assert index["IndexName"] == "by_received_at"
    assert index["KeySchema"] == [
        {"AttributeName": "kind", "KeyType": "HASH"},
        {"AttributeName": "received_at", "KeyType": "RANGE"},
    ]
    assert index["Projection"] == {"ProjectionType": "ALL"}
    # the lookup indexes for the IndexedField parameters, as the store creates them (store/dynamodb_table.py)
    assert [(i["IndexName"], i["KeySchema"], i["Projection"]) for i in lookups] == [
        (d["IndexName"], d["KeySchema"], d["Projection"]) for d in map(beacon_index, ("phone", "email"))
    ]

    parameter = aws.client("ssm").get_parameter(Name=PARAMETER)["Parameter"]
    assert parameter["Type"] == "SecureString"
    role_name = outputs["DecryptRoleArn"].rsplit("/", 1)[1]
    iam = aws.client("iam")
    trust = iam.get_role(RoleName=role_name)["Role"]["AssumeRolePolicyDocument"]
    assert trust["Statement"][0]["Principal"] == {"Service": "lambda.amazonaws.com"}
    assert iam.list_attached_role_policies(RoleName=role_name)["AttachedPolicies"] == []
    statements = {
        s["Sid"]: s
        for s in _policy(iam.get_role_policy(RoleName=role_name, PolicyName="fle-decrypt")["PolicyDocument"])[
            "Statement"
        ]
    }
    assert statements["PrivateKeyFromParameterStore"]["Resource"] == parameter["ARN"]
    assert statements["PrivateKeyFromParameterStore"]["Action"] == "ssm:GetParameter"
    kms_statement = statements["DecryptTheSecureString"]
    assert (kms_statement["Action"], kms_statement["Resource"]) == ("kms:Decrypt", kms_key["Arn"])
    assert kms_statement["Condition"]["StringEquals"] == {
        "kms:ViaService": f"ssm.{aws.region}.amazonaws.com",
        "kms:EncryptionContext:PARAMETER_ARN": parameter["ARN"],
    }
    assert statements["ReadSubmissions"]["Action"] == ["dynamodb:DescribeTable", "dynamodb:BatchGetItem"]
    assert statements["ReadSubmissions"]["Resource"] == table["TableArn"]
    assert statements["RecentSubmissionsByIndex"]["Action"] == "dynamodb:Query"
    assert statements["RecentSubmissionsByIndex"]["Resource"] == f"{table['TableArn']}/index/by_received_at"
    actions = set()
    for statement in statements.values():
        action = statement["Action"]
        actions.update([action] if isinstance(action, str) else action)
    assert actions == {  # reads only: no Put/Update/Delete/Create/Scan, no GetItem
        "ssm:GetParameter",
        "kms:Decrypt",
        "dynamodb:DescribeTable",
        "dynamodb:BatchGetItem",
        "dynamodb:Query",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
    }

    log_group = aws.client("logs").describe_log_groups(logGroupNamePrefix="/aws/lambda/fle-decrypt")
    (group,) = log_group["logGroups"]
    assert group["retentionInDays"] == 365
    account = table["TableArn"].split(":")[4]
    assert statements["AuditLog"]["Resource"] == (
        f"arn:aws:logs:{aws.region}:{account}:log-group:{group['logGroupName']}:*"
    )

    function = aws.client("lambda").get_function_configuration(FunctionName="fle-decrypt")
    assert function["Handler"] == "decryptor.handler.lambda_handler"
    assert function["Runtime"] == "python3.11" and function["Architectures"] == ["x86_64"]
    assert function["Role"] == outputs["DecryptRoleArn"]
    env = function["Environment"]["Variables"]
    assert env == {
        "FLE_KEYSTORE": "/var/task/keystore.toml",
        "FLE_STORE": "dynamodb://fle-submissions?create=false",
    }

    # The table the stack made is one our store and decryptor accept, with the function's own FLE_STORE:
    # an item stored as the origin stores it reads back decrypted through `recent` (the index) and `ids`.
    public = load_config_dir_public_key(tmp_path / "config")
    ciphertext = esdk.encrypt(b"404-555-0150", esdk.FieldKey(public, b"FLEDemo", b"DemoPublicKey"))

    async def store_as_the_origin_does() -> None:
        settings = DynamoSettings(table=outputs["TableName"], create_table=False, indexed_fields=("phone",))
        store = DynamoStore(settings)
        try:
            phone = base64.b64encode(ciphertext).decode()
            await store.put(
                Submission(
                    id="a" * 32,
                    received_at="2026-01-01T12:00:00.000Z",
                    fields={"name": "Jane", "phone": phone, "phone__bidx": "3fa1"},
                    encrypted_fields=("phone",),
                )
            )
            assert (await store.find("phone", ["3fa1"])).ids == ["a" * 32]  # through the stack's index
        finally:
            await store.close()

    asyncio.run(store_as_the_origin_does())
    monkeypatch.setenv("FLE_KEYSTORE", str(keystore))
    monkeypatch.setenv("FLE_STORE", env["FLE_STORE"])
    monkeypatch.setenv("FLE_AUDIT_FILE", str(tmp_path / "audit.jsonl"))
    handler.reset_cache()
    try:
        recent = handler.lambda_handler({"recent": 5}, None)
        by_id = handler.lambda_handler({"ids": ["a" * 32]}, None)
    finally:
        handler.reset_cache()
    fields = recent["items"][0]["fields"]
    assert fields == {"name": "Jane", "phone": "404-555-0150", "phone__bidx": "3fa1"}, recent
    assert by_id["items"][0]["fields"]["phone"] == "404-555-0150", by_id


def load_config_dir_public_key(directory: Path):  # type: ignore[no-untyped-def]
    """The public key `fle keys create --config DIR` wrote (whatever the file is called)."""
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    for path in directory.glob("*.json"):
        document = json.loads(path.read_text())
        config = document.get("PublicKey", {}).get("PublicKeyConfig") or document.get("PublicKeyConfig")
        if config:
            return load_pem_public_key(config["EncodedKey"].encode())
    raise AssertionError(f"no public key in {directory}")
