"""What the portal's browser tests find in the suite, made through the public REST API by an
administrator: a mandatory, sequential certification pathway (content, acknowledgement,
assessment) assigned to the learner's department, an optional pathway whose training step has a
session to book, and an open pathway they may join; the learner reports to a manager."""

import json
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone


def call(gw, token, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(gw + path, data=data, method=method)
    request.add_header("authorization", f"Bearer {token}")
    if data is not None:
        request.add_header("content-type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            text = answer.read()
            return json.loads(text) if text else {}
    except urllib.error.HTTPError as refused:
        raise RuntimeError(f"{method} {path}: {refused.code} {refused.read().decode()}") from None


def seed(gw, admin, learner):
    post = lambda path, body: call(gw, admin, "POST", path, body)
    pathway = post("/v1/pathways", {
        "title": "Data protection basics", "outcome": "CERTIFICATION", "sequencing": "SEQUENTIAL",
        "description": "What everyone handling personal data must know.",
        "certification": {"validityDays": 365, "recertificationWindowDays": 30},
    })["id"]
    steps = f"/v1/pathways/{pathway}/steps"
    post(steps, {"title": "Read the handbook", "required": True,
                 "content": {"url": "https://learn.example.com/handbook", "mediaType": "DOCUMENT"}})
    post(steps, {"title": "Accept the policy", "required": True,
                 "acknowledgement": {"statement": "I will handle personal data as the policy says.",
                                     "policyUrl": "https://acme.example/policy"}})
    bank = post("/v1/questionBanks", {"name": "Data protection"})["id"]
    questions = f"/v1/questionBanks/{bank}/questions"
    personal = post(questions, {
        "title": "Personal data", "text": "Which of these is personal data?",
        "singleChoice": {"choices": [{"id": "a", "text": "An email address", "weight": 1},
                                     {"id": "b", "text": "The company's founding year"}]},
    })["id"]
    days = post(questions, {
        "title": "Breach deadline", "text": "Within how many hours must a breach be reported?",
        "numeric": {"value": 72},
    })["id"]
    assessment = post("/v1/assessments", {
        "title": "Data protection quiz", "pathwayId": pathway,
        "fixed": {"questionIds": [personal, days]}, "passMarkPercent": 100,
        "timeLimitSeconds": 900, "feedbackPolicy": "AFTER_SUBMIT",
        "addStep": {"title": "Final quiz", "required": True},
    })["id"]
    post(f"/v1/pathways/{pathway}:publish", {})

    wellbeing = post("/v1/pathways", {"title": "Wellbeing at work", "outcome": "TRAINING",
                                      "sequencing": "FREE",
                                      "description": "Optional: look after yourself."})["id"]
    post(f"/v1/pathways/{wellbeing}/steps", {"title": "Watch the talk", "required": True,
                                              "content": {"url": "https://learn.example.com/talk"}})
    post(f"/v1/pathways/{wellbeing}/steps", {
        "title": "First-aid certificate", "required": False,
        "external": {"instructions": "Link to your first-aid certificate."}})
    post(f"/v1/pathways/{wellbeing}:publish", {})

    forklift = post("/v1/pathways", {"title": "Forklift practice", "outcome": "TRAINING"})["id"]
    step = post(f"/v1/pathways/{forklift}/steps", {"title": "Practical session", "required": True,
                                                   "trainingSession": {}})
    post(f"/v1/pathways/{forklift}:publish", {})
    step_id = step["steps"][0]["id"]  # AddStep answers the pathway
    start = (datetime.now(timezone.utc) + timedelta(days=2)).replace(microsecond=0)
    session = post("/v1/sessions", {
        "pathwayId": forklift, "stepId": step_id, "startTime": start.isoformat(),
        "endTime": (start + timedelta(hours=2)).isoformat(), "timeZone": "Europe/Paris",
        "location": "Warehouse 2", "capacity": 8,
    })["id"]

    post("/v1/people", {"externalId": "mona", "displayName": "Name mona",
                        "email": "mona@acme.example", "department": "Sales",
                        "jobTitle": "Sales manager"})
    post("/v1/people", {"externalId": learner, "displayName": f"Name {learner}",
                        "email": f"{learner}@acme.example", "department": "Sales",
                        "managerExternalId": "mona"})
    audience = post("/v1/audiences", {"name": "Sales", "kind": "DYNAMIC",
                                      "rule": "department = \"Sales\""})["id"]
    post("/v1/assignments", {"pathwayId": pathway, "audienceId": audience,
                             "requirement": "MANDATORY", "duePolicy": {"daysAfterAssignment": 30}})
    post("/v1/assignments", {"pathwayId": wellbeing, "audienceId": audience, "requirement": "OPEN"})
    post("/v1/assignments", {"pathwayId": forklift, "audienceId": audience,
                             "requirement": "OPTIONAL"})
    return {"pathway": pathway, "assessment": assessment, "wellbeing": wellbeing,
            "forklift": forklift, "session": session}


if __name__ == "__main__":
    import sys
    print(json.dumps(seed(sys.argv[1], sys.argv[2], sys.argv[3])))
