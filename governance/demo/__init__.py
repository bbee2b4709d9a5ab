"""Demo data for the embedded default: a user per role, four passports with trained ONNX models, work to pick up."""
