"""The kubeflow orchestrator: build the step image, compile, submit to KFP, follow the run.

`config` holds the registered settings, `connection` talks to the KFP API through
`kfp.Client`, `submit` turns a pipeline into a KFP run or recurring run, `follow` waits
for a run, and `orchestrator` ties them to the stack. kfp is imported only when a run is
compiled or submitted.
"""
