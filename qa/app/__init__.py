"""The Gradio chat app: the UI, its rendering, uploads, the Evaluation tab and user judgments."""
