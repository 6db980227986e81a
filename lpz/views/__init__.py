"""What users see of a run: its status, the terminal view of it, reports, TensorBoard, samples."""
