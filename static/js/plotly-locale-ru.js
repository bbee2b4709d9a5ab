/* Russian for Plotly's dates, numbers and toolbar (registered before any chart is drawn; app.js picks the
   locale from <html lang>). */
(function () {
  "use strict";
  if (!window.Plotly) {
    return;
  }
  window.Plotly.register({
    moduleType: "locale",
    name: "ru",
    dictionary: {
      "Autoscale": "Автомасштаб",
      "Box Select": "Выделение прямоугольником",
      "Download plot as a png": "Сохранить как PNG",
      "Download plot": "Сохранить график",
      "Lasso Select": "Выделение лассо",
      "Pan": "Сдвиг",
      "Reset axes": "Сбросить оси",
      "Reset view": "Сбросить вид",
      "Show closest data on hover": "Ближайшее значение при наведении",
      "Compare data on hover": "Сравнение значений при наведении",
      "Toggle Spike Lines": "Линии-указатели",
      "Zoom": "Увеличение",
      "Zoom in": "Приблизить",
      "Zoom out": "Отдалить",
      "Double-click to zoom back out": "Двойной щелчок: вернуть масштаб",
      "Click to enter axis title": "Щёлкните, чтобы ввести название оси",
      "Click to enter Plot title": "Щёлкните, чтобы ввести заголовок"
    },
    format: {
      days: ["воскресенье", "понедельник", "вторник", "среда", "четверг", "пятница", "суббота"],
      shortDays: ["вс", "пн", "вт", "ср", "чт", "пт", "сб"],
      months: ["январь", "февраль", "март", "апрель", "май", "июнь", "июль", "август", "сентябрь", "октябрь",
               "ноябрь", "декабрь"],
      shortMonths: ["янв", "фев", "мар", "апр", "май", "июн", "июл", "авг", "сен", "окт", "ноя", "дек"],
      date: "%d.%m.%Y",
      decimal: ",",
      thousands: "\u00a0",
      grouping: [3],
      currency: ["", "\u00a0₽"]
    }
  });
}());
