print("stylize")
