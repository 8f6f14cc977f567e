"""Step images: the content-addressed build context, the docker SDK build and push.

Nothing here is imported on the `zenml --help` path; the docker SDK is imported only
when an image is actually built.
"""
