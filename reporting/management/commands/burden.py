from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from reporting.reads.burden import burden_filters, burden_report
from reporting.rejections import Problems


class Command(BaseCommand):
    help = "Recompute the burden figures (减负成效) from stored subscriptions and submissions, and print them."

    def add_arguments(self, parser):
        parser.add_argument("--from", dest="start", required=True, help="first day, YYYY-MM-DD")
        parser.add_argument("--to", dest="end", required=True, help="last day, YYYY-MM-DD")
        parser.add_argument("--area", help="statutory code of the area (default: the whole tree)")
        parser.add_argument("--units", action="store_true", help="also list units, in area-code order")

    def handle(self, *args, start, end, area, units, **options):
        try:
            start_day, end_day, place = burden_filters(start=start, end=end, area=area, today=timezone.localdate())
        except Problems as error:  # the page's rules and words, each bad option named
            raise CommandError("; ".join(f"--{p.field}: {p.message}" for p in error.problems)) from None
        for line in lines(burden_report(start=start_day, end=end_day, area=place), units=units):
            self.stdout.write(line)


def lines(report, *, units: bool = False) -> list[str]:
    out = [
        f"area {report.area.code} {report.area.name}  {report.start} .. {report.end}",
        f"values typed in OneTable: {report.typed}",
        f"values without OneTable (each department its own copy, nothing carried forward): {report.without_onetable}",
        f"saved: {report.saved} ({report.saved_percent}%)",
        f"carried forward: {report.carried}; supplied by registers and confirmed: {report.confirmed}; "
        f"disputed: {report.disputed}; not typed by the grassroots: {report.not_typed_percent}%",
        "departments (by demand): code, fields, values, shared values, shared %, minutes",
    ]
    out += [
        f"  {d.department.code} {d.fields} {d.values} {d.shared_values} {d.shared_percent}% {d.minutes}"
        for d in report.departments
    ]
    out.append("trend: month, typed, carried, confirmed, disputed, without OneTable, saved %, not typed %")
    out += [
        f"  {p.month} {p.typed} {p.carried} {p.confirmed} {p.disputed} {p.without_onetable} {p.saved_percent}% "
        f"{p.not_typed_percent}%"
        for p in report.trend
    ]
    if units:
        out.append(
            "units (area-code order): code, asked, typed, carried, n/a, departments, re-fills spared, confirmed, "
            "disputed"
        )
        out += [
            f"  {u.unit.area.code} {u.asked} {u.typed} {u.carried} {u.not_applicable} {u.departments} "
            f"{u.refills_spared} {u.confirmed} {u.disputed}"
            for u in report.units
        ]
    return out
