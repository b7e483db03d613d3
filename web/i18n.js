// The interface's words in Russian and English (see ../shared/design/product.md for the terms).
// The choice is kept per browser; the first visit follows the browser's language.

const en = {
  'lang.label': 'Language',
  'login.title': 'Log in', 'login.subtitle': 'Contact center workplace', 'login.username': 'User name', 'login.password': 'Password',
  'login.submit': 'Log in', 'login.wrong': 'Wrong user name or password.', 'login.limited': 'Too many failed attempts. Try again in a few minutes.',
  'login.expired': 'Your session has ended. Please log in again.',
  'logout.one': 'Log out', 'logout.all': 'Log out everywhere', 'logout.done_all': 'Every session of yours has ended.',
  'nav.label': 'Sections', 'nav.desk': 'Workplace', 'nav.supervisor': 'Supervisor', 'nav.admin': 'Administration',
  'conn.online': 'Connected', 'conn.lost': 'Connection lost', 'conn.banner': 'Connection to the server is lost. Reconnecting… What you type is kept.',
  'save': 'Save', 'saved': 'Saved', 'cancel': 'Cancel',
  'desk.state': 'My state', 'desk.contacts': 'Contacts', 'desk.search': 'Search', 'desk.customer': 'Customer', 'desk.ready': 'Ready',
  'desk.not_ready': 'Not ready', 'desk.offline': 'Log off', 'desk.reason': 'Reason', 'desk.time_in_state': 'Time in this state',
  'desk.wrap_left': 'Wrap-up left', 'desk.finish_wrap': 'Finish wrap-up', 'desk.extend_wrap': '+30 s', 'desk.call': 'Call',
  'desk.call_number': 'Call this number', 'desk.click_to_call': 'Call a number', 'desk.number': 'Phone number', 'desk.dialling': 'Your phone rings first, then the number is dialled.',
  'state.available': 'Ready', 'state.not_ready': 'Not ready', 'state.offline': 'Logged off', 'state.reserved': 'Ringing', 'state.busy': 'Busy',
  'state.wrap_up': 'Wrap-up', 'state.unknown': '…',
  'reason.break': 'Break', 'reason.lunch': 'Lunch', 'reason.training': 'Training', 'reason.meeting': 'Meeting', 'reason.other': 'Other', 'reason.supervisor': 'Set by supervisor',
  'email.thread': 'Correspondence', 'email.accept': 'Take', 'email.decline': 'Pass on', 'email.reply': 'Reply',
  'email.send': 'Send', 'email.quote': 'Quote', 'email.finish': 'Finish', 'email.attach': 'Files',
  'email.sent': 'The reply was sent.', 'email.failed': 'The mail server refused the reply', 'email.bounced': 'A reply came back undelivered.',
  'email.new_mail': 'A new message in an open conversation.', 'email.auto': 'automatic', 'email.unknown_sender': 'unknown sender',
  'email.status.sent': 'sent', 'email.status.sending': 'sending', 'email.status.failed': 'not sent', 'email.status.bounced': 'bounced', 'email.status.received': 'received',
  'channel.voice': 'Call', 'channel.email': 'E-mail', 'channel.chat': 'Chat', 'channel.form': 'Web form',
  'direction.inbound': 'inbound', 'direction.outbound': 'outbound',
  'istate.new': 'new', 'istate.in_flow': 'in IVR', 'istate.queued': 'queued', 'istate.offered': 'offered', 'istate.active': 'in progress',
  'istate.held': 'on hold', 'istate.wrap_up': 'wrap-up', 'istate.closed': 'closed', 'istate.abandoned': 'abandoned', 'istate.failed': 'failed',
  'contact.ringing': 'ringing', 'contact.talking': 'talking', 'contact.ended': 'ended', 'contact.open': 'open', 'contact.queue': 'Queue',
  'contact.transferred': 'transferred to you',
  'call.outbound_controls': 'A call you placed: hold and transfer from your phone.', 'call.controls': 'Call controls', 'call.hold': 'Hold', 'call.resume': 'Resume', 'call.held': 'on hold', 'call.hang_up': 'Hang up',
  'call.target': 'Transfer or consult target', 'call.choose_target': 'Agent or queue…', 'call.agents': 'Agents', 'call.queues': 'Queues',
  'call.number': 'Number', 'call.number_placeholder': 'or a number', 'call.choose_target_first': 'Choose an agent, a queue or type a number.',
  'call.consult': 'Consult', 'call.consult_needs': 'A consultation is with an agent or a number.', 'call.consult_ringing': 'Calling',
  'call.consult_talking': 'Consulting', 'call.consult_conference': 'Conference', 'call.conference': 'Conference', 'call.complete': 'Complete transfer',
  'call.cancel_consult': 'Back to the caller',
  'contact.transfer': 'Transfer', 'contact.transferred_ok': 'Transferred.', 'contact.close': 'Close', 'contact.missed': 'A contact was not answered in time and went to another agent.',
  'card.title': 'Customer card', 'card.edit': 'Edit', 'card.name': 'Name', 'card.company': 'Company', 'card.tags': 'Tags (comma separated)',
  'card.custom': 'Custom fields', 'card.custom_hint': 'One per line: field: value', 'card.notes': 'Notes about the customer', 'card.saved': 'Card saved.',
  'card.unknown': 'Unknown caller', 'card.create': 'Create customer', 'card.created': 'Customer created and linked.', 'card.link': 'Or link to an existing customer',
  'card.find': 'Find a customer', 'card.link_this': 'Link', 'ident.phone': 'Phone', 'ident.email': 'E-mail',
  'timeline.title': 'History on every channel', 'timeline.events': 'Events', 'timeline.empty': 'No earlier contacts.',
  'ivr.title': 'In the IVR', 'ivr.none': 'Nothing chosen in the IVR.', 'ivr.menu_choice': 'Menu: pressed', 'ivr.menu_invalid': 'Menu: wrong key',
  'ivr.no_input': 'No input', 'ivr.menu_failed': 'Menu failed', 'ivr.collected': 'Entered', 'ivr.collect_invalid': 'Entered (invalid)',
  'ivr.collect_failed': 'Entry failed', 'ivr.lookup_found': 'Found in company system', 'ivr.lookup_not_found': 'Not found in company system',
  'ivr.lookup_error': 'Company system error', 'ivr.lookup_timeout': 'Company system too slow', 'ivr.queued': 'Queued', 'ivr.callback_key': 'Asked for a callback',
  'ivr.callback_requested': 'Callback requested', 'ivr.queue_max_wait': 'Waited too long', 'ivr.queue_rejected': 'Queue refused', 'ivr.transferred': 'Transferred', 'ivr.voicemail': 'Voicemail',
  'outcome.title': 'Outcome', 'outcome.notes': 'Notes', 'outcome.disposition': 'Disposition', 'outcome.choose': 'Choose…',
  'outcome.required': 'Required before wrap-up ends.', 'outcome.saved': 'Notes and disposition saved.',
  'script.title': 'Script', 'script.none': 'No script for this queue.',
  'cb.tab': 'Callbacks', 'cb.title': 'My callbacks', 'cb.none': 'No callbacks booked.', 'cb.schedule': 'Book a callback', 'cb.when': 'When',
  'cb.whose': 'Who calls', 'cb.for_me': 'I do', 'cb.for_queue': 'Anyone in the queue', 'cb.number': 'Number', 'cb.number_hint': 'The caller\'s or the customer\'s number when left as it is.',
  'cb.note': 'What about', 'cb.book': 'Book callback', 'cb.booked': 'Callback booked.', 'cb.cancel': 'Cancel', 'cb.cancelled': 'Callback cancelled.',
  'cb.due_now': 'due', 'cb.how': 'At its time your phone rings first, then the customer is dialled. If you are busy for 15 minutes, a colleague in the queue calls.',
  'search.customers': 'Customers', 'search.placeholder': 'Name, phone, e-mail, company', 'search.go': 'Search', 'search.nothing': 'Nothing found.', 'search.mine': 'My contacts',
  'filter.from': 'From', 'filter.to': 'To', 'filter.queue': 'Queue', 'filter.agent': 'Agent', 'filter.disposition': 'Disposition', 'filter.customer': 'Customer', 'filter.any': 'Any',
  'col.when': 'When', 'col.channel': 'Channel', 'col.state': 'State', 'col.disposition': 'Disposition', 'col.notes': 'Notes', 'col.agent': 'Agent', 'col.ext': 'Extension',
  'col.in_state': 'In state', 'col.contacts': 'Contacts', 'col.skills': 'Skills (name:level)', 'col.queue': 'Queue',
  'sup.wallboard': 'Wallboard', 'sup.agents': 'Agents', 'sup.interactions': 'Interactions', 'sup.set_state': 'New state', 'sup.apply': 'Apply',
  'sup.interaction': 'Interaction', 'sup.recording': 'Recording',
  'wb.queues': 'Queues', 'wb.agents': 'Agents', 'wb.waiting': 'waiting', 'wb.oldest': 'oldest wait', 'wb.level': 'service level today ({g}% in {t} s)',
  'wb.answered': 'Answered', 'wb.abandoned': 'Abandoned', 'wb.ewt': 'Estimated wait', 'wb.asa': 'Average answer', 'wb.callbacks': 'Callbacks waiting',
  'wb.alarm_waiting': '{n} waiting', 'wb.alarm_oldest': 'oldest has waited {s} s', 'wb.alarm_level': 'service level {p}% is under goal',
  'wb.thresholds': 'Alarm thresholds', 'wb.th_waiting': 'Waiting contacts', 'wb.th_oldest': 'Oldest wait, s', 'wb.th_level': 'Service level under, %',
  'adm.users': 'Users', 'adm.agents': 'Agents', 'adm.queues': 'Queues', 'adm.dispositions': 'Dispositions', 'adm.scripts': 'Scripts', 'adm.flows': 'Flows',
  'adm.tenants': 'Client companies', 'adm.operator': 'operator', 'adm.new_tenant': 'New client company', 'adm.tenant_admin': 'Its administrator',
  'adm.slug_hint': 'Lower-case Latin letters, digits, - and _; cannot be changed later.',
  'adm.numbers': 'Numbers', 'adm.tenant': 'Company', 'adm.new': 'New', 'adm.username': 'User name', 'adm.role': 'Role', 'adm.active': 'Active',
  'adm.new_user': 'New user', 'adm.new_password': 'New password (leave empty to keep)', 'adm.sip': 'SIP password', 'adm.new_agent': 'New agent', 'adm.user': 'User',
  'adm.skills_hint': 'e.g. cards:4, language.en:2', 'adm.sip_password': 'SIP password', 'adm.sip_hint': '8 to 128 characters; never shown again', 'adm.delete': 'Delete',
  'adm.channels': 'Channels', 'adm.sl': 'Service level', 'adm.wrap': 'Wrap-up, s', 'adm.new_queue': 'New queue', 'adm.sl_seconds': 'Service level threshold, s',
  'adm.sl_target': 'Service level goal, %', 'adm.priority': 'Priority', 'adm.disp_required': 'Disposition required', 'adm.code': 'Code', 'adm.new_disposition': 'New disposition',
  'adm.title': 'Title', 'adm.all_queues': 'All queues', 'adm.new_script': 'New script', 'adm.markdown': 'Text (Markdown)', 'adm.preview': 'Preview',
  'adm.new_flow': 'New flow', 'adm.flow_name': 'Name', 'adm.line': 'line', 'adm.flow_ok': 'No problems found.', 'adm.check': 'Check',
  'adm.number': 'Number', 'adm.target_kind': 'Leads to', 'adm.target': 'Target', 'adm.new_number': 'New number', 'adm.kind_flow': 'flow', 'adm.kind_extension': 'extension',
  'adm.kind_trunk': 'trunk', 'adm.kind_service': 'service', 'adm.slug': 'Short name', 'adm.region': 'Phone region (ISO)', 'adm.timezone': 'Time zone',
  'role.agent': 'Agent', 'role.supervisor': 'Supervisor', 'role.admin': 'Administrator',
  'error.disposition_required': 'Choose and save a disposition first: this queue requires one.', 'error.routing_unavailable': 'Routing is not running on the server.',
  'error.call_not_live': 'The call is no longer live.', 'error.no_route': 'No outbound route for this number.', 'error.invalid_phone': 'This is not a phone number.',
  'error.forbidden': 'You may not do this.', 'error.network': 'The server cannot be reached.', 'error.telephony_unavailable': 'Telephony is not available.',
};

const ru = {
  'lang.label': 'Язык',
  'login.title': 'Вход', 'login.subtitle': 'Рабочее место контакт-центра', 'login.username': 'Имя пользователя', 'login.password': 'Пароль',
  'login.submit': 'Войти', 'login.wrong': 'Неверное имя пользователя или пароль.', 'login.limited': 'Слишком много неудачных попыток. Повторите через несколько минут.',
  'login.expired': 'Сеанс завершён. Войдите снова.',
  'logout.one': 'Выйти', 'logout.all': 'Выйти на всех устройствах', 'logout.done_all': 'Все ваши сеансы завершены.',
  'nav.label': 'Разделы', 'nav.desk': 'Рабочее место', 'nav.supervisor': 'Супервизор', 'nav.admin': 'Администрирование',
  'conn.online': 'На связи', 'conn.lost': 'Нет связи', 'conn.banner': 'Связь с сервером потеряна. Переподключаемся… Введённое сохраняется.',
  'save': 'Сохранить', 'saved': 'Сохранено', 'cancel': 'Отмена',
  'desk.state': 'Моё состояние', 'desk.contacts': 'Обращения', 'desk.search': 'Поиск', 'desk.customer': 'Клиент', 'desk.ready': 'Готов',
  'desk.not_ready': 'Не готов', 'desk.offline': 'Выйти из линии', 'desk.reason': 'Причина', 'desk.time_in_state': 'Время в состоянии',
  'desk.wrap_left': 'До конца обработки', 'desk.finish_wrap': 'Завершить обработку', 'desk.extend_wrap': '+30 с', 'desk.call': 'Позвонить',
  'desk.call_number': 'Позвонить на этот номер', 'desk.click_to_call': 'Звонок на номер', 'desk.number': 'Номер телефона', 'desk.dialling': 'Сначала зазвонит ваш телефон, затем наберём номер.',
  'state.available': 'Готов', 'state.not_ready': 'Не готов', 'state.offline': 'Не в линии', 'state.reserved': 'Вызов', 'state.busy': 'Занят',
  'state.wrap_up': 'Поствызывная обработка', 'state.unknown': '…',
  'reason.break': 'Перерыв', 'reason.lunch': 'Обед', 'reason.training': 'Обучение', 'reason.meeting': 'Совещание', 'reason.other': 'Другое', 'reason.supervisor': 'Установлено супервизором',
  'email.thread': 'Переписка', 'email.accept': 'Взять', 'email.decline': 'Передать', 'email.reply': 'Ответ',
  'email.send': 'Отправить', 'email.quote': 'Цитировать', 'email.finish': 'Завершить', 'email.attach': 'Файлы',
  'email.sent': 'Ответ отправлен.', 'email.failed': 'Почтовый сервер не принял ответ', 'email.bounced': 'Ответ не доставлен и вернулся.',
  'email.new_mail': 'Новое сообщение в открытой переписке.', 'email.auto': 'автоматическое', 'email.unknown_sender': 'неизвестный отправитель',
  'email.status.sent': 'отправлено', 'email.status.sending': 'отправляется', 'email.status.failed': 'не отправлено', 'email.status.bounced': 'не доставлено', 'email.status.received': 'получено',
  'channel.voice': 'Звонок', 'channel.email': 'Письмо', 'channel.chat': 'Чат', 'channel.form': 'Веб-форма',
  'direction.inbound': 'входящее', 'direction.outbound': 'исходящее',
  'istate.new': 'новое', 'istate.in_flow': 'в IVR', 'istate.queued': 'в очереди', 'istate.offered': 'предложено', 'istate.active': 'в работе',
  'istate.held': 'на удержании', 'istate.wrap_up': 'обработка', 'istate.closed': 'закрыто', 'istate.abandoned': 'потеряно', 'istate.failed': 'ошибка',
  'contact.ringing': 'вызов', 'contact.talking': 'разговор', 'contact.ended': 'завершено', 'contact.open': 'открыто', 'contact.queue': 'Очередь',
  'contact.transferred': 'переведено вам',
  'call.outbound_controls': 'Исходящий звонок: удержание и перевод — с телефона.', 'call.controls': 'Управление вызовом', 'call.hold': 'Удержание', 'call.resume': 'Снять с удержания', 'call.held': 'на удержании', 'call.hang_up': 'Завершить',
  'call.target': 'Куда перевести или с кем консультироваться', 'call.choose_target': 'Оператор или очередь…', 'call.agents': 'Операторы', 'call.queues': 'Очереди',
  'call.number': 'Номер', 'call.number_placeholder': 'или номер', 'call.choose_target_first': 'Выберите оператора, очередь или введите номер.',
  'call.consult': 'Консультация', 'call.consult_needs': 'Консультация возможна с оператором или по номеру.', 'call.consult_ringing': 'Вызов',
  'call.consult_talking': 'Консультация', 'call.consult_conference': 'Конференция', 'call.conference': 'Конференция', 'call.complete': 'Завершить перевод',
  'call.cancel_consult': 'Вернуться к клиенту',
  'contact.transfer': 'Перевести', 'contact.transferred_ok': 'Переведено.', 'contact.close': 'Закрыть', 'contact.missed': 'Обращение не принято вовремя и передано другому оператору.',
  'card.title': 'Карточка клиента', 'card.edit': 'Изменить', 'card.name': 'Имя', 'card.company': 'Компания', 'card.tags': 'Метки (через запятую)',
  'card.custom': 'Дополнительные поля', 'card.custom_hint': 'По одному в строке: поле: значение', 'card.notes': 'Заметки о клиенте', 'card.saved': 'Карточка сохранена.',
  'card.unknown': 'Неизвестный абонент', 'card.create': 'Создать клиента', 'card.created': 'Клиент создан и привязан.', 'card.link': 'Или привязать к существующему клиенту',
  'card.find': 'Найти клиента', 'card.link_this': 'Привязать', 'ident.phone': 'Телефон', 'ident.email': 'E-mail',
  'timeline.title': 'История обращений по всем каналам', 'timeline.events': 'События', 'timeline.empty': 'Ранее обращений не было.',
  'ivr.title': 'В IVR', 'ivr.none': 'В IVR ничего не выбрано.', 'ivr.menu_choice': 'Меню: нажата', 'ivr.menu_invalid': 'Меню: неверная клавиша',
  'ivr.no_input': 'Нет ввода', 'ivr.menu_failed': 'Меню не пройдено', 'ivr.collected': 'Введено', 'ivr.collect_invalid': 'Введено (неверно)',
  'ivr.collect_failed': 'Ввод не удался', 'ivr.lookup_found': 'Найдено в системе компании', 'ivr.lookup_not_found': 'Не найдено в системе компании',
  'ivr.lookup_error': 'Ошибка системы компании', 'ivr.lookup_timeout': 'Система компании не ответила вовремя', 'ivr.queued': 'В очереди', 'ivr.callback_key': 'Попросил перезвонить',
  'ivr.callback_requested': 'Заказан обратный звонок', 'ivr.queue_max_wait': 'Слишком долгое ожидание', 'ivr.queue_rejected': 'Очередь отказала', 'ivr.transferred': 'Переведено', 'ivr.voicemail': 'Голосовая почта',
  'outcome.title': 'Результат', 'outcome.notes': 'Заметки', 'outcome.disposition': 'Результат обращения', 'outcome.choose': 'Выберите…',
  'outcome.required': 'Обязателен до конца обработки.', 'outcome.saved': 'Заметки и результат сохранены.',
  'script.title': 'Сценарий разговора', 'script.none': 'Для этой очереди сценария нет.',
  'cb.tab': 'Перезвоны', 'cb.title': 'Мои перезвоны', 'cb.none': 'Перезвонов не запланировано.', 'cb.schedule': 'Запланировать перезвон', 'cb.when': 'Когда',
  'cb.whose': 'Кто звонит', 'cb.for_me': 'Я', 'cb.for_queue': 'Любой оператор очереди', 'cb.number': 'Номер', 'cb.number_hint': 'Если не менять — номер звонившего или клиента.',
  'cb.note': 'По какому вопросу', 'cb.book': 'Запланировать', 'cb.booked': 'Перезвон запланирован.', 'cb.cancel': 'Отменить', 'cb.cancelled': 'Перезвон отменён.',
  'cb.due_now': 'пора', 'cb.how': 'В назначенное время сначала зазвонит ваш телефон, затем наберётся номер клиента. Если вы заняты 15 минут, позвонит коллега из очереди.',
  'search.customers': 'Клиенты', 'search.placeholder': 'Имя, телефон, e-mail, компания', 'search.go': 'Найти', 'search.nothing': 'Ничего не найдено.', 'search.mine': 'Мои обращения',
  'filter.from': 'С', 'filter.to': 'По', 'filter.queue': 'Очередь', 'filter.agent': 'Оператор', 'filter.disposition': 'Результат', 'filter.customer': 'Клиент', 'filter.any': 'Любой',
  'col.when': 'Когда', 'col.channel': 'Канал', 'col.state': 'Состояние', 'col.disposition': 'Результат', 'col.notes': 'Заметки', 'col.agent': 'Оператор', 'col.ext': 'Внутренний',
  'col.in_state': 'В состоянии', 'col.contacts': 'Обращений', 'col.skills': 'Навыки (навык:уровень)', 'col.queue': 'Очередь',
  'sup.wallboard': 'Табло', 'sup.agents': 'Операторы', 'sup.interactions': 'Обращения', 'sup.set_state': 'Новое состояние', 'sup.apply': 'Применить',
  'sup.interaction': 'Обращение', 'sup.recording': 'Запись разговора',
  'wb.queues': 'Очереди', 'wb.agents': 'Операторы', 'wb.waiting': 'ждут', 'wb.oldest': 'дольше всех ждёт', 'wb.level': 'уровень сервиса сегодня ({g}% за {t} с)',
  'wb.answered': 'Принято', 'wb.abandoned': 'Потеряно', 'wb.ewt': 'Ожидаемое ожидание', 'wb.asa': 'Среднее время ответа', 'wb.callbacks': 'Ждут обратного звонка',
  'wb.alarm_waiting': 'ждут: {n}', 'wb.alarm_oldest': 'ожидание {s} с', 'wb.alarm_level': 'уровень сервиса {p}% ниже цели',
  'wb.thresholds': 'Пороги тревоги', 'wb.th_waiting': 'Ждущих обращений', 'wb.th_oldest': 'Самое долгое ожидание, с', 'wb.th_level': 'Уровень сервиса ниже, %',
  'adm.users': 'Пользователи', 'adm.agents': 'Операторы', 'adm.queues': 'Очереди', 'adm.dispositions': 'Результаты', 'adm.scripts': 'Сценарии разговора', 'adm.flows': 'Сценарии IVR',
  'adm.tenants': 'Компании-заказчики', 'adm.operator': 'оператор', 'adm.new_tenant': 'Новый заказчик', 'adm.tenant_admin': 'Его администратор',
  'adm.slug_hint': 'Строчная латиница, цифры, - и _; потом не меняется.',
  'adm.numbers': 'Номера', 'adm.tenant': 'Компания', 'adm.new': 'Создать', 'adm.username': 'Имя пользователя', 'adm.role': 'Роль', 'adm.active': 'Активен',
  'adm.new_user': 'Новый пользователь', 'adm.new_password': 'Новый пароль (пусто — не менять)', 'adm.sip': 'SIP-пароль', 'adm.new_agent': 'Новый оператор', 'adm.user': 'Пользователь',
  'adm.skills_hint': 'например: cards:4, language.en:2', 'adm.sip_password': 'SIP-пароль', 'adm.sip_hint': 'От 8 до 128 символов; больше не показывается', 'adm.delete': 'Удалить',
  'adm.channels': 'Каналы', 'adm.sl': 'Уровень сервиса', 'adm.wrap': 'Обработка, с', 'adm.new_queue': 'Новая очередь', 'adm.sl_seconds': 'Порог уровня сервиса, с',
  'adm.sl_target': 'Цель уровня сервиса, %', 'adm.priority': 'Приоритет', 'adm.disp_required': 'Результат обязателен', 'adm.code': 'Код', 'adm.new_disposition': 'Новый результат',
  'adm.title': 'Название', 'adm.all_queues': 'Все очереди', 'adm.new_script': 'Новый сценарий', 'adm.markdown': 'Текст (Markdown)', 'adm.preview': 'Просмотр',
  'adm.new_flow': 'Новый сценарий IVR', 'adm.flow_name': 'Имя', 'adm.line': 'строка', 'adm.flow_ok': 'Ошибок нет.', 'adm.check': 'Проверить',
  'adm.number': 'Номер', 'adm.target_kind': 'Ведёт на', 'adm.target': 'Куда', 'adm.new_number': 'Новый номер', 'adm.kind_flow': 'сценарий IVR', 'adm.kind_extension': 'внутренний номер',
  'adm.kind_trunk': 'транк', 'adm.kind_service': 'служба', 'adm.slug': 'Короткое имя', 'adm.region': 'Регион телефонов (ISO)', 'adm.timezone': 'Часовой пояс',
  'role.agent': 'Оператор', 'role.supervisor': 'Супервизор', 'role.admin': 'Администратор',
  'error.disposition_required': 'Сначала выберите и сохраните результат: в этой очереди он обязателен.', 'error.routing_unavailable': 'Маршрутизация на сервере не запущена.',
  'error.call_not_live': 'Звонок уже завершён.', 'error.no_route': 'Для этого номера нет исходящего маршрута.', 'error.invalid_phone': 'Это не номер телефона.',
  'error.forbidden': 'У вас нет на это прав.', 'error.network': 'Сервер недоступен.', 'error.telephony_unavailable': 'Телефония недоступна.',
};

const dictionaries = { en, ru };
const KEY = 'hotline.lang';

let current = (() => {
  try {
    const saved = localStorage.getItem(KEY);
    if (saved === 'ru' || saved === 'en') return saved;
  } catch { /* storage blocked */ }
  return (navigator.language || 'ru').toLowerCase().startsWith('en') ? 'en' : 'ru';
})();

export function lang() { return current; }

export function setLang(l) {
  current = l === 'en' ? 'en' : 'ru';
  try { localStorage.setItem(KEY, current); } catch { /* storage blocked */ }
}

/**
 * The text for `key` with `{name}` placeholders filled. A key missing from both dictionaries
 * gives `fallback` when one is passed (even null), else the key itself.
 */
export function t(key, vars = {}, fallback) {
  let text = dictionaries[current][key] ?? dictionaries.en[key];
  if (text === undefined) return fallback !== undefined ? fallback : key;
  for (const [k, v] of Object.entries(vars || {})) text = text.replaceAll(`{${k}}`, String(v));
  return text;
}
