/** @type {import('tailwindcss').Config} */
module.exports = {
  // Dark mode follows the system (prefers-color-scheme).
  darkMode: "media",
  content: ["./views/**/*.templ", "./views/**/*.go", "./static/js/app.js"],
  theme: {
    extend: {
      fontFamily: {
        sans: ["Inter", "ui-sans-serif", "system-ui", "-apple-system", "Segoe UI", "Roboto", "Helvetica Neue", "Arial", "sans-serif"],
        mono: ["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "Liberation Mono", "monospace"],
      },
    },
  },
  plugins: [],
};
