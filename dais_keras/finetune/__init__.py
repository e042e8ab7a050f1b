"""Fine-tuning a pruned model: the data forms it takes (`inputs`), knowledge
distillation (`distill`), the one fine-tune recipe (`recipe`) and top-1
accuracy (`accuracy`)."""
