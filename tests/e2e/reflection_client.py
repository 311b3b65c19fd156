"""A client in another language that knows nothing of the LMS but server reflection and a token.

Usage: python3 reflection_client.py HOST:PORT TOKEN

It discovers the services through gRPC server reflection, builds request messages from the
descriptors it receives, and drives an admin's first journey: a category, a pathway with steps,
publish, and read the published version back. It also checks health and one bad request.
Prints 'reflection: N passed, 0 failed' and exits 0 when every check holds.
"""

import sys

import grpc
from google.protobuf import json_format, message_factory
from google.protobuf.descriptor_pool import DescriptorPool
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

SERVICE = "lms.pathway.v1.PathwayService"


class Client:
    def __init__(self, address, token):
        self.channel = grpc.insecure_channel(address)
        self.database = ProtoReflectionDescriptorDatabase(self.channel)
        self.pool = DescriptorPool(self.database)
        self.token = token

    def services(self):
        return list(self.database.get_services())

    def call(self, service, method, body):
        descriptor = self.pool.FindServiceByName(service).FindMethodByName(method)
        request_class = message_factory.GetMessageClass(descriptor.input_type)
        response_class = message_factory.GetMessageClass(descriptor.output_type)
        stub = self.channel.unary_unary(
            f"/{service}/{method}",
            request_serializer=request_class.SerializeToString,
            response_deserializer=response_class.FromString,
        )
        request = json_format.ParseDict(body, request_class())
        response = stub(
            request, metadata=[("authorization", f"Bearer {self.token}")], timeout=10
        )
        return json_format.MessageToDict(response)


def main():
    address, token = sys.argv[1], sys.argv[2]
    client = Client(address, token)
    passed = 0

    def check(condition, what):
        nonlocal passed
        if not condition:
            print(f"FAILED: {what}", file=sys.stderr)
            print(f"reflection: {passed} passed, 1 failed")
            sys.exit(1)
        passed += 1

    services = client.services()
    check(SERVICE in services, f"reflection lists {SERVICE} (got {services})")
    check("grpc.health.v1.Health" in services, "reflection lists grpc.health.v1.Health")

    health = health_pb2_grpc.HealthStub(client.channel)
    status = health.Check(health_pb2.HealthCheckRequest(service=SERVICE), timeout=10).status
    check(status == health_pb2.HealthCheckResponse.SERVING, "health reports SERVING")

    category = client.call(
        SERVICE, "CreateCategory", {"category": {"name": "Compliance", "sortOrder": 1}}
    )
    check(category["name"] == "Compliance", "category created")

    pathway = client.call(
        SERVICE,
        "CreatePathway",
        {
            "pathway": {
                "title": "Data protection",
                "outcome": "COMPLIANCE",
                "categoryId": category["id"],
                "tags": ["gdpr"],
            }
        },
    )
    check(pathway["status"] == "DRAFT", "pathway created as a draft")

    client.call(
        SERVICE,
        "AddStep",
        {
            "pathwayId": pathway["id"],
            "step": {
                "title": "Watch the briefing",
                "required": True,
                "content": {"url": "https://learn.example.com/gdpr", "mediaType": "VIDEO"},
            },
        },
    )
    with_steps = client.call(
        SERVICE,
        "AddStep",
        {
            "pathwayId": pathway["id"],
            "step": {
                "title": "Accept the policy",
                "required": True,
                "acknowledgement": {
                    "policyUrl": "https://intranet.example.com/gdpr.pdf",
                    "statement": "I have read the data protection policy",
                },
            },
        },
    )
    check(len(with_steps["steps"]) == 2, "two steps added")

    version = client.call(SERVICE, "PublishPathway", {"id": pathway["id"]})
    check(version["version"] == 1, "published as version 1")

    read_back = client.call(
        SERVICE, "GetPathwayVersion", {"pathwayId": pathway["id"], "version": 1}
    )
    steps = read_back["pathway"]["steps"]
    check(
        [s["title"] for s in steps] == ["Watch the briefing", "Accept the policy"],
        "the published version holds the steps in order",
    )
    check(read_back["pathway"]["status"] == "PUBLISHED", "the version is published")

    try:
        client.call(SERVICE, "CreatePathway", {"pathway": {"title": "", "outcome": "TRAINING"}})
        check(False, "an empty title is refused")
    except grpc.RpcError as error:
        check(error.code() == grpc.StatusCode.INVALID_ARGUMENT, "an empty title is INVALID_ARGUMENT")

    print(f"reflection: {passed} passed, 0 failed")


if __name__ == "__main__":
    main()
