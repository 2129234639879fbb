"""REST API for questions on a value (数据询问): a department asks and reads, the unit asked answers."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.access import access_department, access_own_unit, signed_in
from reporting.access import access_department_question, access_unit_question
from reporting.api.error_handlers import problem_response
from reporting.api.inputs import QuestionAnswerIn, QuestionAskIn, QuestionsQuery
from reporting.api.schemas import ErrorOut
from reporting.models import Question, Submission
from reporting.params import whole_number
from reporting.reads.questions import department_questions, unit_questions
from reporting.rejections import Problem, Problems
from reporting.services.questions import answer_question, ask_question


def _iso(moment) -> str | None:
    return moment.isoformat() if moment else None


def question_json(q: Question) -> dict[str, Any]:
    return {
        "id": q.public_id,
        "status": q.status,
        "department": q.department.code,
        "unit": {"code": q.unit.area.code, "name": q.unit.name},
        "submission": q.submission_id,
        "sheet": q.submission.sheet.code,
        "period": q.period,
        "field": q.field.code,
        "version_seen": q.version_seen,
        "value_seen": q.value_seen,
        "text": q.text,
        "asked_at": _iso(q.asked_at),
        "answer": q.answer,
        "answer_version": q.answer_version.number if q.answer_version else None,
        "answered_at": _iso(q.answered_at),
    }


QuestionOut = inline_serializer(
    "Question",
    {
        "id": serializers.CharField(),
        "status": serializers.ChoiceField(["open", "corrected", "explained"]),
        "department": serializers.CharField(),
        "unit": serializers.DictField(),
        "submission": serializers.IntegerField(),
        "sheet": serializers.CharField(),
        "period": serializers.CharField(),
        "field": serializers.CharField(),
        "version_seen": serializers.IntegerField(),
        "value_seen": serializers.JSONField(allow_null=True),
        "text": serializers.CharField(),
        "asked_at": serializers.DateTimeField(),
        "answer": serializers.CharField(allow_blank=True),
        "answer_version": serializers.IntegerField(allow_null=True),
        "answered_at": serializers.DateTimeField(allow_null=True),
    },
)
QuestionPage = inline_serializer(
    "QuestionPage",
    {"questions": serializers.ListField(child=QuestionOut), "next": serializers.IntegerField(allow_null=True)},
)


def _question_pk(text: str) -> int | None:
    """`qst_12` (as the API shows it) or `12`."""
    return whole_number(text.removeprefix("qst_"))


class DepartmentQuestionsView(APIView):
    @extend_schema(
        summary="Questions on the values the department receives (asked by it or another department), by id",
        operation_id="department_questions",
        parameters=[QuestionsQuery],
        responses={200: QuestionPage, 400: ErrorOut},
    )
    def get(self, request: Request) -> Response:
        department = access_department(request.user)
        query = QuestionsQuery.parse(request.query_params)
        page = department_questions(department, after=query["after"], limit=query["limit"])
        return Response(
            {
                "questions": [question_json(q) for q in page],
                "next": page[-1].pk if len(page) == query["limit"] else None,
            }
        )

    @extend_schema(
        summary="Ask the unit about one value the department received (400 question.not_received otherwise)",
        operation_id="department_question_ask",
        request=QuestionAskIn,
        responses={201: QuestionOut, 400: ErrorOut},
    )
    def post(self, request: Request) -> Response:
        department = access_department(request.user)
        body = QuestionAskIn.parse(request.data)
        # a filing that does not exist or is a register's is named like a field it does not receive: no hint
        submission = (
            Submission.objects.by_units().select_related("sheet", "unit__area").filter(pk=body["submission"]).first()
        )
        if submission is None:
            raise Problems([Problem(field="field", rule="question.not_received")])
        question = ask_question(
            department=department,
            submission=submission,
            field=body["field"],
            version=body.get("version"),
            text=body["text"],
            by=signed_in(request.user),
        )
        return Response(question_json(question), status=status.HTTP_201_CREATED)


class DepartmentQuestionView(APIView):
    @extend_schema(
        summary="One question on a value the department receives",
        operation_id="department_question",
        responses={200: QuestionOut, 404: ErrorOut},
    )
    def get(self, request: Request, question_id: str) -> Response:
        department = access_department(request.user)
        return Response(question_json(access_department_question(department, _question_pk(question_id))))


class UnitQuestionsView(APIView):
    @extend_schema(
        summary="The questions departments asked about the unit's values, open ones first (all in one page)",
        operation_id="unit_questions",
        responses={200: QuestionPage},
    )
    def get(self, request: Request) -> Response:
        unit = access_own_unit(request.user)
        questions = unit_questions(unit).select_related("unit__area")[:1000]
        return Response({"questions": [question_json(q) for q in questions], "next": None})


class UnitQuestionAnswerView(APIView):
    @extend_schema(
        summary="Answer a question once: `value` corrects the filing (a new version to every subscriber), "
        "`explanation` says why the value is right (or why it was corrected)",
        operation_id="unit_question_answer",
        request=QuestionAnswerIn,
        responses={200: QuestionOut, 400: ErrorOut, 404: ErrorOut, 409: ErrorOut},
    )
    def post(self, request: Request, question_id: str) -> Response:
        unit = access_own_unit(request.user)
        question = access_unit_question(unit, _question_pk(question_id))
        body = QuestionAnswerIn.parse(request.data)
        try:
            answered = answer_question(
                question=question,
                unit=unit,
                by=signed_in(request.user),
                value=body.get("value"),
                explanation=body.get("explanation", ""),
            )
        except Problems as error:
            if error.problems[0].rule == "question.answered":
                return problem_response(error.problems, status.HTTP_409_CONFLICT)
            raise
        return Response(question_json(access_unit_question(unit, answered.pk)))
