"""The design center (设计中心): personal folders today (``api``, over the files kernel);
requirements-to-acceptance and the achievement library to come."""
