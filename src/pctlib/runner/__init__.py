"""The grid runner: params files, notebook executions with papermill, local or Ray engines, the book."""
