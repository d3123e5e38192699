"""iam: least-privilege policy documents for the execution role and for wasync's users."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from . import naming, state
from .clients import Clients
from .errors import error_code

Document = dict[str, Any]


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

    def arn(self, service: str, resource: str, region: bool = True) -> str:
        return f"arn:{self.partition}:{service}:{self.region if region else ''}:{self.account}:{resource}"


def scope_for(clients: Clients) -> Scope:
    partition = "aws-cn" if clients.region.startswith("cn-") else "aws"
    return Scope(partition, clients.region, clients.account_id, clients.bucket, clients.prefix)


TRUST_POLICY: Document = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "sagemaker.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


def execution_role_policy(scope: Scope) -> Document:
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
                "Condition": {"StringLike": {"s3:prefix": [f"{scope.prefix}*"]}},
            },
            {
                "Sid": "PullImage",
                "Effect": "Allow",
                "Action": [
                    "ecr:BatchGetImage",
                    "ecr:GetDownloadUrlForLayer",
                    "ecr:BatchCheckLayerAvailability",
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


def user_policy(scope: Scope, role_arn: str) -> Document:
    """What a person or CI job running every wasync command needs."""
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
                "Sid": "SageMaker",
                "Effect": "Allow",
                "Action": [
                    "sagemaker:CreateModel",
                    "sagemaker:DescribeModel",
                    "sagemaker:DeleteModel",
                    "sagemaker:CreateEndpointConfig",
                    "sagemaker:DescribeEndpointConfig",
                    "sagemaker:DeleteEndpointConfig",
                    "sagemaker:CreateEndpoint",
                    "sagemaker:UpdateEndpoint",
                    "sagemaker:DescribeEndpoint",
                    "sagemaker:DeleteEndpoint",
                    "sagemaker:AddTags",
                    "sagemaker:ListTags",
                    "sagemaker:InvokeEndpointAsync",
                ],
                "Resource": sagemaker,
            },
            {
                "Sid": "SageMakerList",
                "Effect": "Allow",
                "Action": ["sagemaker:ListEndpointConfigs", "sagemaker:ListEndpoints"],
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
                "Action": ["s3:CreateBucket", "s3:PutBucketPublicAccessBlock", "s3:ListBucket"],
                "Resource": [scope.bucket_arn],
            },
            {
                "Sid": "Objects",
                "Effect": "Allow",
                "Action": [
                    "s3:GetObject",
                    "s3:PutObject",
                    "s3:DeleteObject",
                    "s3:AbortMultipartUpload",
                ],
                "Resource": [f"{scope.bucket_arn}/{scope.prefix}*"],
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
                "Sid": "Autoscaling",
                "Effect": "Allow",
                "Action": [
                    "application-autoscaling:RegisterScalableTarget",
                    "application-autoscaling:DeregisterScalableTarget",
                    "application-autoscaling:DescribeScalableTargets",
                    "application-autoscaling:PutScalingPolicy",
                    "application-autoscaling:DeleteScalingPolicy",
                    "application-autoscaling:DescribeScalingPolicies",
                ],
                "Resource": ["*"],
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
                "Action": ["cloudwatch:GetMetricStatistics"],
                "Resource": ["*"],
            },
            {
                "Sid": "Topics",
                "Effect": "Allow",
                "Action": [
                    "sns:CreateTopic",
                    "sns:DeleteTopic",
                    "sns:Subscribe",
                    "sns:TagResource",
                ],
                "Resource": [scope.arn("sns", "wasync-*")],
            },
            {
                "Sid": "TopicList",
                "Effect": "Allow",
                "Action": ["sns:ListTopics"],
                "Resource": ["*"],
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
    created: bool = False


def documents(clients: Clients) -> IamDocuments:
    scope = scope_for(clients)
    role_arn = (
        clients.settings.role_arn
        or f"arn:{scope.partition}:iam::{scope.account}:role/{naming.ROLE_NAME}"
    )
    return IamDocuments(
        naming.ROLE_NAME,
        role_arn,
        TRUST_POLICY,
        execution_role_policy(scope),
        user_policy(scope, role_arn),
    )


def create_role(clients: Clients) -> IamDocuments:
    """Create the execution role, or bring an existing one's policies up to date."""
    docs = documents(clients)
    iam = clients.client("iam")
    try:
        role = iam.create_role(
            RoleName=docs.role_name,
            AssumeRolePolicyDocument=json.dumps(docs.trust_policy),
            Description="SageMaker execution role for wasync endpoints",
            Tags=[naming.MANAGED_TAG],
        )["Role"]
    except Exception as exc:
        if error_code(exc) != "EntityAlreadyExists":
            raise
        iam.update_assume_role_policy(
            RoleName=docs.role_name, PolicyDocument=json.dumps(docs.trust_policy)
        )
        role = iam.get_role(RoleName=docs.role_name)["Role"]
    iam.put_role_policy(
        RoleName=docs.role_name,
        PolicyName="wasync-execution",
        PolicyDocument=json.dumps(docs.execution_policy),
    )
    state.remember(clients.settings, clients.region, "role_arn", role["Arn"])
    return IamDocuments(
        docs.role_name,
        role["Arn"],
        docs.trust_policy,
        docs.execution_policy,
        docs.user_policy,
        created=True,
    )
