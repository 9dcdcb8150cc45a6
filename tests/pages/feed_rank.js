if (typeof day_top == "undefined") { var day_top = {}; }
day_top['305'] = {"name":"热点排行","list":[{"title":"军事头条","url":"https://military.china.com/news/568/20251124/49000005.html"},{"title":"国内要闻","url":"https://news.china.com/domestic/945/20251124/49000001.html"}]};
