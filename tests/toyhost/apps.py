from django.apps import AppConfig


class ToyHostConfig(AppConfig):
    name = __package__  # "tests.toyhost" here, "toyhost" in the fresh-install project
    label = "toyhost"
    verbose_name = "Toy middleware"
    default_auto_field = "django.db.models.AutoField"
