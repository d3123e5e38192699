"""iam: least-privilege policy documents for the execution role and for wasync's users."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from typing import Any

from . import aws, naming, state, storage
from .clients import Clients
from .errors import UsageError
from .plan import Plan, Step, execute

Document = dict[str, Any]
QUEUE_URL = re.compile(r"^https?://[^/]+/(\d{12})/([\w-]{1,80}(?:\.fifo)?)$", re.ASCII)


@dataclass(frozen=True)
class Scope:
    partition: str
    region: str
    account: str
    bucket: str
    prefix: str

    @property
    def bucket_arn(self) -> str:
        return f"arn:{self.partition}:s3:::{self.bucket}"

    def objects(self, folder: str) -> str:
        return f"{self.bucket_arn}/{self.prefix}{folder}/*"

    def all_objects(self) -> list[str]:
        return [self.objects(folder) for folder in naming.FOLDERS]

    def folder_prefixes(self) -> list[str]:
        """ListBucket's s3:prefix values: wasync lists inside its folders only."""
        return [f"{self.prefix}{folder}/*" for folder in naming.FOLDERS]

    def arn(self, service: str, resource: str, region: bool = True) -> str:
        return naming.arn(
            self.partition, service, self.region if region else "", self.account, resource
        )


def scope_for(clients: Clients) -> Scope:
    return Scope(
        clients.partition, clients.region, clients.account_id, clients.bucket, clients.prefix
    )


def queue_arn(scope: Scope, queue_url: str | None) -> str:
    """The ARN of the queue `transcribe --notify-queue` reads; without one, wasync-* queues."""
    if queue_url is None:
        return scope.arn("sqs", "wasync-*")
    match = QUEUE_URL.fullmatch(queue_url)
    if not match:
        raise UsageError(
            f"{queue_url!r} is not an SQS queue URL",
            "expected https://sqs.REGION.amazonaws.com/ACCOUNT/NAME",
        )
    account, name = match.groups()
    return naming.arn(scope.partition, "sqs", scope.region, account, name)


AUTOSCALING_SERVICE = "sagemaker.application-autoscaling.amazonaws.com"
AUTOSCALING_ROLE = (
    f"role/aws-service-role/{AUTOSCALING_SERVICE}/"
    "AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint"
)
MANAGED = {"StringEquals": {"aws:ResourceTag/managed-by": "wasync"}}
TAGGED_REQUEST = {"StringEquals": {"aws:RequestTag/managed-by": "wasync"}}
VARIANT_SCALING = {
    "StringEquals": {
        "application-autoscaling:service-namespace": "sagemaker",
        "application-autoscaling:scalable-dimension": "sagemaker:variant:DesiredInstanceCount",
    }
}
NOTES = (
    "Application Auto Scaling names a scalable target in IAM by a generated id "
    "(scalable-target/ID), not by the endpoint variant's resource id, so AWS does not allow "
    "its write actions to be limited to this endpoint's variants; they are limited by "
    "condition to SageMaker variant instance counts instead.",
    "UpdateEndpoint, UpdateEndpointWeightsAndCapacities, DeleteEndpoint, DeleteEndpointConfig "
    "and DeleteModel are allowed only on "
    "resources tagged managed-by=wasync, and wasync's Create calls must carry that tag. "
    "SageMaker checks sagemaker:AddTags for a Create call's tags, and IAM cannot tell that "
    "check from a later AddTags call, so a holder of this policy could tag an endpoint made "
    "by another tool and then change it: to protect such endpoints, add a statement that "
    "denies sagemaker:AddTags on their ARNs.",
    "Objects are granted in wasync's folders under the prefix only. To transcribe s3:// "
    "objects elsewhere, or to deploy a model.tar.gz from elsewhere, grant s3:GetObject on "
    "them to this policy's holder and to the execution role (and, to transcribe an "
    "s3://bucket/prefix/, s3:ListBucket on that bucket to this policy's holder).",
    "s3:ListBucket is not limited to wasync's folders for this policy's holder: S3 "
    "authorizes HeadBucket, with which wasync checks that the bucket is this account's, as "
    "s3:ListBucket with no prefix, which a condition on s3:prefix would refuse. It lets the "
    "holder list key names elsewhere in the bucket, not read the objects.",
    "sagemaker:InvokeEndpointAsync is allowed only on endpoints tagged managed-by=wasync, so "
    "`transcribe` on an endpoint made by another tool needs it granted on that endpoint's ARN.",
    "This policy runs every command but `iam --create`: creating or updating the execution "
    "role (iam:GetRole, GetRolePolicy, CreateRole, TagRole, PutRolePolicy, "
    "UpdateAssumeRolePolicy) is for an administrator, once.",
    "Application Auto Scaling requires whoever registers a variant to hold "
    "sagemaker:UpdateEndpointWeightsAndCapacities on its endpoint; it is allowed on endpoints "
    "tagged managed-by=wasync, so `autoscale` of an endpoint made by another tool needs it "
    "granted on that endpoint.",
)


def trust_policy(account: str) -> Document:
    """SageMaker may assume the role only on this account's behalf: AWS's guard against the
    confused deputy (SageMaker's docs, "Cross-service confused deputy prevention"), so no other
    account's model can be made to run with it."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "sagemaker.amazonaws.com"},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"aws:SourceAccount": account}},
            }
        ],
    }


ECR_IMAGE = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/"
    r"(?P<repository>[a-z0-9._/-]+?)(?::[\w.-]+)?(?:@sha256:[0-9a-f]{64})?$",
    re.ASCII,
)


def image_repositories(scope: Scope, image_uri: str | None) -> list[str]:
    """The ECR repositories the endpoint may pull from: wasync's own, and the one the
    configured image (--image-uri, WASYNC_IMAGE_URI) lies in, when that is another."""
    own = scope.arn("ecr", f"repository/{naming.REPOSITORY}")
    match = ECR_IMAGE.fullmatch(image_uri or "")
    if match is None:
        return [own]
    configured = naming.arn(
        scope.partition,
        "ecr",
        match["region"],
        match["account"],
        f"repository/{match['repository']}",
    )
    return [own] if configured == own else [own, configured]


def execution_role_policy(scope: Scope, image_uri: str | None = None) -> Document:
    """What the endpoint's container needs, and nothing more."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ReadModelsAndInputs",
                "Effect": "Allow",
                "Action": ["s3:GetObject"],
                "Resource": [scope.objects("models"), scope.objects("inputs")],
            },
            {
                "Sid": "WriteResults",
                "Effect": "Allow",
                "Action": ["s3:PutObject", "s3:AbortMultipartUpload"],
                "Resource": [scope.objects("outputs"), scope.objects("failures")],
            },
            {
                "Sid": "ListOwnPrefix",
                "Effect": "Allow",
                "Action": ["s3:ListBucket"],
                "Resource": [scope.bucket_arn],
                "Condition": {"StringLike": {"s3:prefix": scope.folder_prefixes()}},
            },
            {
                "Sid": "PullImage",
                "Effect": "Allow",
                "Action": [
                    "ecr:BatchGetImage",
                    "ecr:GetDownloadUrlForLayer",
                    "ecr:BatchCheckLayerAvailability",
                ],
                "Resource": image_repositories(scope, image_uri),
            },
            {
                "Sid": "EcrToken",
                "Effect": "Allow",
                "Action": ["ecr:GetAuthorizationToken"],
                "Resource": ["*"],
            },
            {
                "Sid": "Logs",
                "Effect": "Allow",
                "Action": [
                    "logs:CreateLogGroup",
                    "logs:CreateLogStream",
                    "logs:PutLogEvents",
                    "logs:DescribeLogStreams",
                ],
                "Resource": [scope.arn("logs", "log-group:/aws/sagemaker/Endpoints/*")],
            },
            {
                "Sid": "Metrics",
                "Effect": "Allow",
                "Action": ["cloudwatch:PutMetricData"],
                "Resource": ["*"],
                "Condition": {
                    "StringLike": {"cloudwatch:namespace": ["/aws/sagemaker/*", "AWS/SageMaker"]}
                },
            },
            {
                "Sid": "Notify",
                "Effect": "Allow",
                "Action": ["sns:Publish"],
                "Resource": [scope.arn("sns", "wasync-*")],
            },
        ],
    }


# What the first command needs to make wasync's bucket (storage.bucket_plan). Once the bucket
# exists they would let a user undo its public access block or add a lifecycle rule that
# expires every object in it, so a policy printed then leaves them out.
BUCKET_SETUP = ["s3:CreateBucket", "s3:PutBucketPublicAccessBlock", "s3:PutLifecycleConfiguration"]


def user_policy(scope: Scope, role_arn: str, queue: str, bucket_exists: bool = True) -> Document:
    """What a person or CI job running every wasync command but `iam --create` needs."""
    sagemaker = [
        scope.arn("sagemaker", f"{kind}/*") for kind in ("endpoint", "endpoint-config", "model")
    ]
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "Identity",
                "Effect": "Allow",
                "Action": ["sts:GetCallerIdentity"],
                "Resource": ["*"],
            },
            {
                "Sid": "SageMakerRead",
                "Effect": "Allow",
                "Action": [
                    "sagemaker:DescribeModel",
                    "sagemaker:DescribeEndpointConfig",
                    "sagemaker:DescribeEndpoint",
                    "sagemaker:ListTags",
                ],
                "Resource": sagemaker,
            },
            {
                # an endpoint is someone's bill and model: send work only to wasync's own
                "Sid": "InvokeOwn",
                "Effect": "Allow",
                "Action": ["sagemaker:InvokeEndpointAsync"],
                "Resource": [scope.arn("sagemaker", "endpoint/*")],
                "Condition": MANAGED,
            },
            {
                "Sid": "SageMakerCreateTagged",
                "Effect": "Allow",
                "Action": [
                    "sagemaker:CreateModel",
                    "sagemaker:CreateEndpointConfig",
                    "sagemaker:CreateEndpoint",
                    "sagemaker:AddTags",
                ],
                "Resource": sagemaker,
                "Condition": TAGGED_REQUEST,
            },
            {
                "Sid": "SageMakerChangeOwn",
                "Effect": "Allow",
                "Action": [
                    "sagemaker:UpdateEndpoint",
                    # Application Auto Scaling checks that who registers a variant may resize it
                    "sagemaker:UpdateEndpointWeightsAndCapacities",
                    "sagemaker:DeleteEndpoint",
                    "sagemaker:DeleteEndpointConfig",
                    "sagemaker:DeleteModel",
                ],
                "Resource": sagemaker,
                "Condition": MANAGED,
            },
            {
                "Sid": "SageMakerList",
                "Effect": "Allow",
                # deploy's clean-up and delete look for the models an endpoint left behind
                "Action": ["sagemaker:ListEndpointConfigs", "sagemaker:ListModels"],
                "Resource": ["*"],
            },
            {
                "Sid": "PassRole",
                "Effect": "Allow",
                "Action": ["iam:PassRole"],
                "Resource": [role_arn],
                "Condition": {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
            },
            {
                "Sid": "Bucket",
                "Effect": "Allow",
                "Action": ["s3:ListBucket"] + ([] if bucket_exists else BUCKET_SETUP),
                "Resource": [scope.bucket_arn],
            },
            {
                "Sid": "ReadObjects",
                "Effect": "Allow",
                "Action": ["s3:GetObject"],
                "Resource": scope.all_objects(),
            },
            {
                # results are the endpoint's to write: a user who could would forge them
                "Sid": "WriteObjects",
                "Effect": "Allow",
                "Action": ["s3:PutObject", "s3:AbortMultipartUpload"],
                "Resource": [scope.objects(f) for f in naming.USER_WRITES],
            },
            {
                "Sid": "DeleteObjects",
                "Effect": "Allow",
                "Action": ["s3:DeleteObject"],
                "Resource": [scope.objects(f) for f in naming.USER_DELETES],
            },
            {
                "Sid": "Ecr",
                "Effect": "Allow",
                "Action": [
                    "ecr:CreateRepository",
                    "ecr:DescribeRepositories",
                    "ecr:DescribeImages",
                    "ecr:InitiateLayerUpload",
                    "ecr:UploadLayerPart",
                    "ecr:CompleteLayerUpload",
                    "ecr:PutImage",
                    "ecr:BatchCheckLayerAvailability",
                    "ecr:TagResource",
                    "ecr:BatchGetImage",  # which engines an image holds (its config's labels)
                    "ecr:GetDownloadUrlForLayer",
                ],
                "Resource": [scope.arn("ecr", f"repository/{naming.REPOSITORY}")],
            },
            {
                "Sid": "EcrToken",
                "Effect": "Allow",
                "Action": ["ecr:GetAuthorizationToken"],
                "Resource": ["*"],
            },
            {
                "Sid": "AutoscalingRead",
                "Effect": "Allow",
                "Action": [
                    "application-autoscaling:DescribeScalableTargets",
                    "application-autoscaling:DescribeScalingPolicies",
                    "application-autoscaling:DescribeScalingActivities",
                ],
                "Resource": ["*"],
            },
            {
                "Sid": "AutoscalingVariants",
                "Effect": "Allow",
                "Action": [
                    "application-autoscaling:RegisterScalableTarget",
                    "application-autoscaling:DeregisterScalableTarget",
                    "application-autoscaling:PutScalingPolicy",
                    "application-autoscaling:DeleteScalingPolicy",
                ],
                "Resource": ["*"],
                "Condition": VARIANT_SCALING,
            },
            {
                # the first RegisterScalableTarget for SageMaker in an account makes this role
                "Sid": "AutoscalingServiceRole",
                "Effect": "Allow",
                "Action": ["iam:CreateServiceLinkedRole"],
                "Resource": [scope.arn("iam", AUTOSCALING_ROLE, region=False)],
                "Condition": {"StringLike": {"iam:AWSServiceName": AUTOSCALING_SERVICE}},
            },
            {
                "Sid": "Alarms",
                "Effect": "Allow",
                "Action": [
                    "cloudwatch:PutMetricAlarm",
                    "cloudwatch:DeleteAlarms",
                    "cloudwatch:DescribeAlarms",
                ],
                "Resource": [scope.arn("cloudwatch", "alarm:wasync-*")],
            },
            {
                "Sid": "Metrics",
                "Effect": "Allow",
                "Action": ["cloudwatch:GetMetricStatistics", "cloudwatch:DescribeAlarmsForMetric"],
                "Resource": ["*"],
            },
            {
                "Sid": "Topics",
                "Effect": "Allow",
                "Action": [
                    "sns:CreateTopic",
                    "sns:DeleteTopic",
                    "sns:GetTopicAttributes",
                    "sns:TagResource",
                ],
                "Resource": [scope.arn("sns", "wasync-*")],
            },
            {
                "Sid": "NotificationQueue",
                "Effect": "Allow",
                "Action": [
                    "sqs:ReceiveMessage",
                    "sqs:DeleteMessage",
                    "sqs:ChangeMessageVisibility",
                    "sqs:GetQueueAttributes",
                ],
                "Resource": [queue],
            },
            {
                "Sid": "Logs",
                "Effect": "Allow",
                "Action": ["logs:FilterLogEvents"],
                "Resource": [scope.arn("logs", "log-group:/aws/sagemaker/Endpoints/*")],
            },
        ],
    }


@dataclass(frozen=True)
class IamDocuments:
    role_name: str
    role_arn: str
    trust_policy: Document
    execution_policy: Document
    user_policy: Document
    notes: tuple[str, ...] = ()
    created: bool = False  # `iam --create` ran: the role exists as shown
    changes: tuple[str, ...] = ()  # what it changed; none when the role was up to date


@dataclass(frozen=True)
class RolePlan:
    """What `iam --create` would change (nothing when the role is up to date)."""

    role_name: str
    steps: tuple[Step, ...]
    documents: IamDocuments

    @property
    def plan(self) -> Plan:
        return Plan(self.steps)


def documents(clients: Clients, queue_url: str | None = None) -> IamDocuments:
    scope = scope_for(clients)
    role_arn = clients.settings.role_arn or scope.arn(
        "iam", f"role/{naming.ROLE_NAME}", region=False
    )
    queue = queue_arn(scope, queue_url)
    notes: tuple[str, ...] = NOTES
    if clients.settings.is_local:
        notes = (
            "The local stack checks no IAM permissions and its endpoints use no role of yours: "
            "these documents are what the same work needs in an AWS account "
            "(run `wasync iam` with that account's profile to scope them to it).",
            *notes,
        )
    bucket_exists = storage.bucket_exists(clients)
    if not bucket_exists:
        notes += (
            f"The bucket {scope.bucket} does not exist yet, so the user policy lets its holder "
            f"create it ({', '.join(BUCKET_SETUP)}). Once the first command has made it, run "
            "`wasync iam` again: the policy it prints leaves those actions out.",
        )
    if queue_url is None:
        notes += (
            f"The notification queue is assumed to be named wasync-* ({queue}); pass "
            "--notify-queue URL to scope the policy to the queue you use.",
        )
    return IamDocuments(
        naming.ROLE_NAME,
        role_arn,
        trust_policy(scope.account),
        execution_role_policy(scope, clients.settings.image_uri),
        user_policy(scope, role_arn, queue, bucket_exists),
        notes,
    )


EXECUTION_POLICY_NAME = "wasync-execution"


def plan_role(clients: Clients, queue_url: str | None = None) -> RolePlan:
    """Create the execution role, or bring an existing one's policies up to date; found by
    reading only."""
    docs = documents(clients, queue_url)
    iam = clients.client("iam")
    name = docs.role_name
    role = aws.find(iam.get_role, RoleName=name)
    steps: list[Step] = []
    if role is None:
        steps.append(
            Step(
                "iam",
                "create_role",
                {
                    "RoleName": name,
                    "AssumeRolePolicyDocument": json.dumps(docs.trust_policy),
                    "Description": "SageMaker execution role for wasync endpoints",
                    "Tags": [naming.MANAGED_TAG],
                },
                f"create role {name}",
            )
        )
        role_arn = naming.arn(clients.partition, "iam", "", clients.account_id, f"role/{name}")
    else:
        role_arn = str(role["Role"]["Arn"])
        if _document(role["Role"].get("AssumeRolePolicyDocument")) != docs.trust_policy:
            steps.append(
                Step(
                    "iam",
                    "update_assume_role_policy",
                    {"RoleName": name, "PolicyDocument": json.dumps(docs.trust_policy)},
                    f"update the trust policy of role {name}",
                )
            )
    inline = (
        None
        if role is None
        else aws.find(iam.get_role_policy, RoleName=name, PolicyName=EXECUTION_POLICY_NAME)
    )
    if inline is None or _document(inline.get("PolicyDocument")) != docs.execution_policy:
        steps.append(
            Step(
                "iam",
                "put_role_policy",
                {
                    "RoleName": name,
                    "PolicyName": EXECUTION_POLICY_NAME,
                    "PolicyDocument": json.dumps(docs.execution_policy),
                },
                f"put inline policy {EXECUTION_POLICY_NAME} on role {name}",
            )
        )
    return RolePlan(name, tuple(steps), replace(docs, role_arn=role_arn))


def _document(value: Any) -> Any:
    """A policy document as botocore returns it (decoded), or as JSON text."""
    return json.loads(value) if isinstance(value, str) else value


def create_role(clients: Clients, plan: RolePlan | None = None) -> IamDocuments:
    """Run a role plan (made now when not given) and remember the role for `deploy`."""
    state.check_writable(clients.settings)
    plan = plan or plan_role(clients)
    execute(clients, plan.plan)
    state.remember(clients.settings, clients.region, "role_arn", plan.documents.role_arn)
    changes = tuple(step.summary for step in plan.steps)
    return replace(plan.documents, created=True, changes=changes)
