"""The application sharing center (应用共享中心): the marketplace of applications (publish, browse;
search and subscriptions to come) on top of the packages kernel (``node.packages``)."""
