"""Fine-tuning a pruned model: knowledge distillation, the fine-tune recipe and
accuracy."""
