"""The scheduling center (调度中心): plans on the working calendar, multi-task workflows and robot
pools, built on the run core (``node.runs``) and the robots kernel (``node.robots``)."""
