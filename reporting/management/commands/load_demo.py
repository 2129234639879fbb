from django.core.management.base import BaseCommand

from reporting.demo import demo_loaded, load_demo


class Command(BaseCommand):
    help = "Load the demo county (青山县) once; a second call changes nothing."

    def handle(self, *args, **options):
        if demo_loaded():
            self.stdout.write("demo county already loaded; nothing changed")
            return
        load_demo()
        self.stdout.write(self.style.SUCCESS("demo county loaded"))
