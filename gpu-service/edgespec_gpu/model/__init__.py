"""Llama-family decoder (Llama 2/3, Qwen2, Mistral) written for tree verification."""
