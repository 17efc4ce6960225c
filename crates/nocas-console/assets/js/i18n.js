// English and Simplified Chinese. Keys are the English text; a missing
// translation shows the English.

N.ZH = {};
N.t = (s) => (N.state.lang === 'zh' && N.ZH[s]) || s;
N.setLang = function (lang) {
  N.state.lang = lang === 'zh' ? 'zh' : 'en';
  localStorage.setItem('nocas.lang', N.state.lang);
};
