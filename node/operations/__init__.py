"""The operations center (运营中心): the node's status overview; the big screen and run analysis to come."""
