package handlers

// Toast levels.
const (
	toastSuccess = "success"
	toastError   = "error"
	toastInfo    = "info"
)

func toast(level, message string) map[string]any {
	return map[string]any{"level": level, "message": message}
}
