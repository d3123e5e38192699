"""The serving container: SageMaker's bring-your-own-container contract on Starlette.

Nothing here imports boto3, the CLI or the local stack, so the image stays lean and the same
code runs in the container and in the local stack.
"""
